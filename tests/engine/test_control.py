"""The control socket: a running `devloop up` answers commands from another terminal."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from devloop.core.control import Accepted, Answer, Request, Status
from devloop.engine.control import SUN_PATH_MAX, ControlServer, socket_path


@pytest.mark.parametrize("depth", [1, 4, 12], ids=["short", "long", "longer-than-a-socket-path"])
async def test_the_socket_binds_and_answers_whatever_the_runtime_folders_length(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, depth: int
) -> None:
    runtime = tmp_path.joinpath(*["deep-folder-name"] * depth)
    runtime.mkdir(parents=True)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))
    path = socket_path("my-project-name-is-long-a1b2c3d4")
    assert len(os.fsencode(path)) <= SUN_PATH_MAX
    assert path == socket_path("my-project-name-is-long-a1b2c3d4")  # the client finds the same one
    assert socket_path("other-project-e5f6a7b8") != path
    seen: list[Request] = []

    def handler(request: Request) -> Answer:
        seen.append(request)
        return Accepted()

    server = ControlServer(path, handler)
    await server.start()
    try:
        reader, writer = await asyncio.open_unix_connection(str(path))
        writer.write(b'{"cmd": "status"}\n')
        await writer.drain()
        assert b'"ok": true' in await reader.read(4096)
        assert seen == [Status()]  # the server answered the request it was sent
        writer.close()
        assert oct(path.stat().st_mode & 0o777) == "0o600"
    finally:
        await server.close()
