"""A shell kept open in each synced container, so a save costs one write and one answer.

Docker's archive endpoint and an exec for the restart step cost about 100 ms per container on
Docker 20.10 (the archive endpoint mounts the container's filesystem, an exec is three round
trips). The agent is `/bin/sh`, run as the container's own user (with `no-new-privileges` a root
exec has no capabilities, so only the app's user may signal the app), reading requests on stdin:
one line of shell that writes each file from the bytes that follow it (`head -c SIZE > DEST`),
removes the gone ones and signals PID 1; then the session's end marker, up to which anything
left unread is skipped, never run. It answers `devloop-sync <status>`. Closing devloop's end
(Ctrl-C, the container stopping) ends it. Where it cannot do the work (no shell in the image, a
new file in a folder the user may not write) the caller falls back to the archive endpoint.
"""

from __future__ import annotations

import contextlib
import secrets
import shlex
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from devloop.adapters.dockerapi import DockerEngine, ExecSession
from devloop.core.changes import SyncCopy
from devloop.errors import (
    DockerConflictError,
    DockerNotFoundError,
    DockerRefusedError,
    DockerUnavailableError,
)

ANSWER_TIMEOUT_S = 60.0  # large files on a busy machine; a stuck agent is dropped after it
SESSION_ERRORS = (DockerConflictError, DockerNotFoundError, DockerRefusedError, DockerUnavailableError)


def agent_script(end: str) -> str:
    """The agent: each request line run, its leftovers skipped up to `end`, its status said."""
    return (
        "while IFS= read -r step; do rc=0; eval \"$step\" || rc=$?; "
        f"while IFS= read -r line && [ \"$line\" != {end} ]; do :; done; "
        "echo \"devloop-sync $rc\"; done"
    )


@dataclass(frozen=True)
class FileWrite:
    dest: str  # absolute path in the container
    data: bytes
    mode: int  # permission bits, as the file has them locally

    @classmethod
    def read(cls, source: Path, dest: str) -> FileWrite:
        return cls(dest, source.read_bytes(), source.stat().st_mode & 0o7777)

    @classmethod
    def read_all(cls, folder: Path, copies: Sequence[SyncCopy]) -> list[FileWrite]:
        """Each copy's file from the app folder, for its destination in the container."""
        return [cls.read(folder / copy.rel, copy.dest) for copy in copies]


def request(files: Sequence[FileWrite], gone: Sequence[str], signal: str | None) -> tuple[str, bytes] | None:
    """The request's shell line and the bytes it reads; None when a name cannot be in one line
    (a newline in it) and the caller must use the archive endpoint instead."""
    names = [f.dest for f in files] + list(gone)
    if any("\n" in name or "\r" in name for name in names):
        return None
    steps: list[str] = []
    for write in files:
        dest, folder = shlex.quote(write.dest), shlex.quote(str(PurePosixPath(write.dest).parent))
        # A step that fails stops the line; the bytes it left unread are skipped up to the marker.
        steps.append(f"{{ [ -d {folder} ] || mkdir -p {folder}; }} && head -c {len(write.data)} > {dest}"
                     f" && chmod {write.mode:o} {dest}")  # fmt: skip
    if gone:
        steps.append("rm -f -- " + " ".join(shlex.quote(name) for name in gone))
    if signal:
        steps.append(f"kill -{shlex.quote(signal)} 1")
    return " && ".join(steps) or ":", b"".join(f.data for f in files)


class SyncAgents:
    """One app's agents, one per container, started on first use and dropped when they fail."""

    def __init__(self, engine: Callable[[], DockerEngine]) -> None:
        self._engine = engine  # the provider's current connection (it reconnects after an outage)
        self._sessions: dict[str, tuple[ExecSession, str]] = {}  # container id -> (session, end marker)
        self._unable: set[str] = set()  # containers whose image cannot run the agent
        self._lock = threading.Lock()

    def apply(self, container_id: str, step: str, payload: bytes = b"") -> bool:
        """`step` run in the container (reading `payload`); False: use the fallback (the agent
        could not start or answer, or the step failed: the fallback says why)."""
        for _attempt in range(2):  # an agent left from before a container restart is gone: one more
            if container_id in self._unable:
                return False
            found = self._session(container_id)
            if found is None:
                return False
            session, end = found
            try:
                session.send(f"{step}\n".encode() + payload + f"\n{end}\n".encode())
                line, _errors = session.answer(ANSWER_TIMEOUT_S)
            except SESSION_ERRORS:
                self.forget(container_id)
                continue
            return line.strip() == "devloop-sync 0"
        return False

    def _session(self, container_id: str) -> tuple[ExecSession, str] | None:
        with self._lock:
            found = self._sessions.get(container_id)
        if found is not None:
            return found
        end = f"devloop-end-{secrets.token_hex(8)}"
        try:
            # No user given: the exec runs as the container's own user, the app's.
            session = self._engine().exec_session(container_id, ["/bin/sh", "-c", agent_script(end)])
        except SESSION_ERRORS:  # not running just now (a restart): try again next time
            return None
        try:
            session.send(f":\n{end}\n".encode())  # a first empty request: the shell runs, and answers
            line, _errors = session.answer(ANSWER_TIMEOUT_S)
        except SESSION_ERRORS:  # no /bin/sh in the image: it exited at once
            line = ""
        if line.strip() != "devloop-sync 0":
            session.close()
            self._unable.add(container_id)
            return None
        with self._lock:
            self._sessions[container_id] = (session, end)
        return session, end

    def warm(self, container_ids: Sequence[str]) -> None:
        """Start the agents of new instances now, off the save's path."""
        for container_id in container_ids:
            self._session(container_id)

    def keep_only(self, container_ids: set[str]) -> None:
        """Close the agents of containers that are gone (a redeploy replaced them)."""
        with self._lock:
            gone = [cid for cid in self._sessions if cid not in container_ids]
        for container_id in gone:
            self.forget(container_id)
        self._unable &= container_ids

    def forget(self, container_id: str) -> None:
        with self._lock:
            found = self._sessions.pop(container_id, None)
        if found is not None:
            found[0].close()

    def close(self) -> None:
        with self._lock:
            sessions, self._sessions = [s for s, _end in self._sessions.values()], {}
        for session in sessions:
            with contextlib.suppress(Exception):
                session.close()
