"""A running `devloop up` takes commands (`devloop trigger APP`) over a Unix socket.

The socket lives in a folder only the user can open ($XDG_RUNTIME_DIR/devloop,
else ~/.cache/devloop/run), named after the project, so commands from another
terminal reach the right `devloop up`. One JSON request per connection, one
JSON answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

from devloop.errors import UsageError
from devloop.fs import private_dir
from devloop.router.streams import close_writer

Handler = Callable[[dict[str, Any]], dict[str, Any]]


def runtime_dir() -> Path:
    base = os.environ.get("XDG_RUNTIME_DIR")
    folder = Path(base) / "devloop" if base else Path.home() / ".cache" / "devloop" / "run"
    return private_dir(folder)


SUN_PATH_MAX = 104  # bytes a Unix socket path may take on every platform devloop runs on (108 on Linux)


def socket_path(project_id: str) -> Path:
    """The project's socket; a short name where the folder's path is long, and a user-only folder
    under /tmp where even that would not fit (a bind would fail with 'AF_UNIX path too long')."""
    path = runtime_dir() / f"{project_id}.sock"
    if len(os.fsencode(path)) <= SUN_PATH_MAX:
        return path
    short = f"{hashlib.sha256(project_id.encode()).hexdigest()[:16]}.sock"
    path = runtime_dir() / short
    if len(os.fsencode(path)) <= SUN_PATH_MAX:
        return path
    return private_dir(Path("/tmp") / f"devloop-{os.getuid()}") / short


class ControlServer:
    def __init__(self, path: Path, handler: Handler) -> None:
        self.path = path
        self.handler = handler
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        if self.path.exists():
            if _answers(self.path):
                raise UsageError(
                    "another devloop up is already running for this project",
                    hint="use that one, or stop it first",
                )
            self.path.unlink()  # left by a devloop that was killed
        self._server = await asyncio.start_unix_server(self._serve, path=str(self.path))
        os.chmod(self.path, 0o600)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            raw = await asyncio.wait_for(reader.readline(), 5)
            try:
                request = json.loads(raw)
                answer = self.handler(request) if isinstance(request, dict) else {"error": "bad request"}
            except json.JSONDecodeError:
                answer = {"error": "bad request"}
            writer.write(json.dumps(answer).encode() + b"\n")
            await writer.drain()
        except (TimeoutError, OSError):
            pass
        finally:
            await close_writer(writer)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()


def _answers(path: Path) -> bool:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(1)
        try:
            sock.connect(str(path))
        except OSError:
            return False
    return True


def send(project_id: str, request: dict[str, Any], timeout: float = 10) -> dict[str, Any]:
    """Send one command to this project's running `devloop up`."""
    path = socket_path(project_id)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        try:
            sock.connect(str(path))
        except OSError:
            raise UsageError(
                "no devloop up is running for this project", hint="start one with `devloop up`"
            ) from None
        sock.sendall(json.dumps(request).encode() + b"\n")
        data = b""
        while not data.endswith(b"\n"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    answer = json.loads(data or b"{}")
    return answer if isinstance(answer, dict) else {}
