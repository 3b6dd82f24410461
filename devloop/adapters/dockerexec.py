"""An exec session over the engine's hijacked connection: stdin written raw, output read as the
engine frames it (8-byte headers: stream 1 stdout, 2 stderr, then the length), one answer a line.

Kept apart from the SDK engine so a long-lived process in a container (the sync agent) costs one
write and one read per request instead of an exec's create, start and inspect round trips.
"""

from __future__ import annotations

import contextlib
import socket
import struct
from typing import Protocol

from devloop.errors import DockerConflictError, DockerUnavailableError

HEADER = struct.Struct(">BxxxL")
STDOUT, STDERR = 1, 2


class _Raw(Protocol):
    """What the SDK hands back for `exec_start(socket=True)`: a socket, or a SocketIO around one."""

    def close(self) -> None: ...


class SdkExecSession:
    """ExecSession over the socket of `exec_start(socket=True)` (a non-TTY exec: framed output)."""

    def __init__(self, raw: _Raw) -> None:
        self._raw = raw
        found = getattr(raw, "_sock", raw)  # a SocketIO wraps the socket on unix connections
        if not isinstance(found, socket.socket):
            raise DockerUnavailableError("the engine's exec connection is not a socket", reason="exec socket")
        self._sock: socket.socket = found
        self._stdout = b""

    def send(self, data: bytes) -> None:
        try:
            self._sock.sendall(data)
        except OSError as exc:
            raise DockerConflictError(f"the exec session ended: {exc}") from None

    def answer(self, timeout_s: float) -> tuple[str, str]:
        errors = b""
        self._sock.settimeout(timeout_s)
        while b"\n" not in self._stdout:
            kind, payload = self._frame()
            if kind == STDERR:
                errors += payload
            else:
                self._stdout += payload
        line, _, self._stdout = self._stdout.partition(b"\n")
        return line.decode(errors="replace"), errors.decode(errors="replace")

    def _frame(self) -> tuple[int, bytes]:
        kind, size = HEADER.unpack(self._exactly(HEADER.size))
        return kind, self._exactly(size)

    def _exactly(self, size: int) -> bytes:
        chunks: list[bytes] = []
        left = size
        while left:
            try:
                chunk = self._sock.recv(left)
            except OSError as exc:  # a timeout included: the answer never came
                raise DockerConflictError(f"the exec session ended: {exc}") from None
            if not chunk:
                raise DockerConflictError("the exec session ended (its process exited)")
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_WR)  # EOF on the process's stdin: it ends itself
        with contextlib.suppress(OSError):
            self._sock.close()
        with contextlib.suppress(OSError):
            self._raw.close()
