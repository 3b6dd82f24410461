"""A running `devloop up` takes commands (`devloop trigger APP`) over a Unix socket.

The socket lives in a folder only the user can open ($XDG_RUNTIME_DIR/devloop,
else ~/.cache/devloop/run), named after the project, so commands from another
terminal reach the right `devloop up`. One JSON request per connection, one
JSON answer; this module is the one place where devloop.core.control values
become JSON and back (`{"cmd": "scale", "app": "web", ...}`).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import json
import os
import socket
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from devloop.core.control import (
    Accepted,
    Answer,
    Refused,
    Reload,
    Reloaded,
    Request,
    Restart,
    Scale,
    SetDebug,
    SetManual,
    Status,
    StatusReport,
    TaskLog,
    Trigger,
    Triggered,
)
from devloop.errors import UsageError
from devloop.fs import private_dir
from devloop.router.net import close_writer

Handler = Callable[[Request], Answer]
T = TypeVar("T")

REQUESTS: dict[str, type[Request]] = {
    "trigger": Trigger, "scale": Scale, "restart": Restart, "reload": Reload, "status": Status,
    "manual": SetManual, "task-log": TaskLog, "debug": SetDebug,
}  # fmt: skip
ANSWERS: dict[str, type[Answer]] = {
    "accepted": Accepted, "triggered": Triggered, "reloaded": Reloaded, "status": StatusReport,
}  # fmt: skip


def _tag(value: Request | Answer, table: dict[str, type[Request]] | dict[str, type[Answer]]) -> str:
    return next(tag for tag, kind in table.items() if isinstance(value, kind))


def encode_request(request: Request) -> bytes:
    return json.dumps({"cmd": _tag(request, REQUESTS), **dataclasses.asdict(request)}).encode() + b"\n"


def decode_request(raw: bytes) -> Request | Refused:
    """A request, or why it is none: bad JSON, an unknown command, fields of the wrong type."""
    try:
        data = json.loads(raw)
    except json.JSONDecodeError:
        return Refused("bad request")
    if not isinstance(data, dict):
        return Refused("bad request")
    cmd = data.pop("cmd", None)
    kind = REQUESTS.get(cmd) if isinstance(cmd, str) else None
    if kind is None:
        return Refused(f"unknown command {cmd!r}")
    return _validated(kind, data)


def encode_answer(answer: Answer) -> bytes:
    if isinstance(answer, Refused):
        return json.dumps({"error": answer.error}).encode() + b"\n"
    fields = dataclasses.asdict(answer)
    return json.dumps({"ok": True, "answer": _tag(answer, ANSWERS), **fields}).encode() + b"\n"


def decode_answer(raw: bytes) -> Answer:
    try:
        data = json.loads(raw) if raw.strip() else None  # nothing: it closed the connection
    except json.JSONDecodeError:
        return Refused("the running devloop up gave no answer")
    if not isinstance(data, dict):
        return Refused("the running devloop up gave no answer")
    if "error" in data:
        return Refused(str(data["error"]))
    kind = ANSWERS.get(str(data.pop("answer", None)))
    if kind is None:
        return Refused("the running devloop up gave no answer it knows (a different devloop version?)")
    return _validated(kind, {k: v for k, v in data.items() if k != "ok"})


def _validated(kind: type[T], fields: dict[str, object]) -> T | Refused:
    # Strict JSON validation: an int stays an int (no "3" for 3), a list becomes a tuple.
    import pydantic  # only where an answer or a request arrives: `status` with no `up` needs none

    try:
        value = pydantic.TypeAdapter(kind).validate_json(json.dumps(fields), strict=True)
    except pydantic.ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'request'}: {e['msg']}" for e in exc.errors())
        return Refused(f"bad request: {problems}")
    return value


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
            request = decode_request(await asyncio.wait_for(reader.readline(), 5))
            answer = request if isinstance(request, Refused) else self.handler(request)
            writer.write(encode_answer(answer))
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


def send(project_id: str, request: Request, timeout: float = 10) -> Answer:
    """Send one request to this project's running `devloop up`."""
    path = socket_path(project_id)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        try:
            sock.connect(str(path))
        except OSError:
            raise UsageError(
                "no devloop up is running for this project", hint="start one with `devloop up`"
            ) from None
        sock.sendall(encode_request(request))
        data = b""
        while not data.endswith(b"\n"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    return decode_answer(data)
