"""The tar stream a file sync sends into an instance: changed files at their destination paths."""

from __future__ import annotations

import io
import tarfile

from devloop.core.changes import SyncCopy
from devloop.core.spec import AppSpec


def sync_archive(app: AppSpec, present: list[SyncCopy], uid: int = 0, gid: int = 0) -> bytes:
    """Each copy's file from the app folder, stored at its absolute destination without the '/'."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for copy in present:
            source = app.source / copy.rel
            info = tar.gettarinfo(str(source), arcname=copy.dest.lstrip("/"))
            info.uid, info.gid, info.uname, info.gname = uid, gid, "", ""
            with open(source, "rb") as handle:
                tar.addfile(info, handle)
    return buffer.getvalue()
