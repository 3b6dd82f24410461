"""The watched folder goes away and comes back (a branch switch, `git stash`, a re-clone)."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pytest

from devloop.core.spec import AppSpec
from devloop.watch.watcher import Watcher
from tests.conftest import FaultRecord


async def next_batch(watcher: Watcher, timeout: float = 10) -> frozenset[str]:
    return (await asyncio.wait_for(watcher.batches.get(), timeout)).files


@pytest.mark.fault("watched folder deleted and recreated")
async def test_a_deleted_and_recreated_folder_is_watched_again(tmp_path: Path, fault: FaultRecord) -> None:
    folder = tmp_path / "app"
    (folder / "src").mkdir(parents=True)
    (folder / "src" / "main.py").write_text("v1\n")
    watcher = Watcher([AppSpec("web", folder)], quiet_s=0.05)
    await watcher.start()
    try:
        (folder / "src" / "main.py").write_text("v2\n")
        assert await next_batch(watcher) == {"src/main.py"}

        shutil.rmtree(folder)  # the folder goes away...
        notice = await asyncio.wait_for(watcher.notices.get(), 10)
        fault.message(notice, f"{folder} was removed; watching for it to come back")
        (folder / "src").mkdir(parents=True)  # ...and comes back, with its files
        (folder / "src" / "main.py").write_text("v3\n")
        assert "src/main.py" in await next_batch(watcher)  # the return counts as a change
        notice = await asyncio.wait_for(watcher.notices.get(), 10)
        fault.message(notice, f"{folder} is back; watching it again")

        (folder / "src" / "main.py").write_text("v4\n")  # and later edits are seen as before
        assert await next_batch(watcher) == {"src/main.py"}
    finally:
        await watcher.stop()
