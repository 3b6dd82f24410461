"""The control socket: a running `devloop up` answers commands from another terminal."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import pytest

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
from devloop.core.status import AppStatus, Counts, InstanceRow, ProcessCounts
from devloop.engine.control import (
    SUN_PATH_MAX,
    ControlServer,
    decode_answer,
    decode_request,
    encode_answer,
    encode_request,
    socket_path,
)


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


REQUESTS = [
    Trigger(("web", "worker")), Trigger(), Scale("web", 3), Scale("web", None, 512, "worker"), Restart("web"),
    Reload(), Status(), SetManual(True), TaskLog("web", "migrate", ("hi", "there"), (1, 2)),
    TaskLog("web", "migrate", exit_code=3), SetDebug("web", True),
]  # fmt: skip
ANSWERS: list[Answer] = [
    Accepted(), Triggered(("web",)), Reloaded(("web",)), Refused("no app named api"),
    StatusReport((AppStatus("web", "running", Counts(1, 2), {"worker": ProcessCounts(1, 1, "running", "64M")},
                            128, "http://web.localhost:8080", "devloop/web:1", 1000.0, None,
                            (InstanceRow(0, "running", "127.0.0.1:32768"),)),)),
]  # fmt: skip


@pytest.mark.parametrize("request_", REQUESTS, ids=repr)
def test_every_request_travels_as_json_and_back_unchanged(request_: Request) -> None:
    wire = encode_request(request_)
    assert wire.endswith(b"\n") and json.loads(wire)["cmd"]  # one line, named by its command
    assert decode_request(wire) == request_


@pytest.mark.parametrize("answer", ANSWERS, ids=lambda a: type(a).__name__)
def test_every_answer_travels_as_json_and_back_unchanged(answer: Answer) -> None:
    assert decode_answer(encode_answer(answer)) == answer


def test_the_status_answer_has_the_keys_of_devloop_status_json() -> None:
    (row,) = json.loads(encode_answer(ANSWERS[-1]))["apps"]
    assert list(row) == ["name", "state", "instances", "processes", "memory_mb", "url", "image",
                         "last_deploy_at", "last_error", "instance_list", "address"]  # fmt: skip
    assert row["instances"] == {"running": 1, "desired": 2}
    assert row["instance_list"][0] == {"index": 0, "state": "running", "address": "127.0.0.1:32768",
                                       "restarts": 0, "process": "web", "sidecar": "", "debug": "",
                                       "debug_address": None}  # fmt: skip


@pytest.mark.parametrize(
    ("wire", "why"),
    [
        (b"not json\n", "bad request"),
        (b"[1, 2]\n", "bad request"),
        (b'{"cmd": "explode"}\n', "unknown command 'explode'"),
        (b'{"app": "web"}\n', "unknown command None"),
        (b'{"cmd": "scale", "app": "web", "instances": "3"}\n', "bad request: instances: Input should be a valid integer"),
        (b'{"cmd": "restart"}\n', "bad request: app: Field required"),
        (b'{"cmd": "trigger", "apps": "web"}\n', "bad request: apps: Input should be a valid array"),
    ],
)  # fmt: skip
def test_a_request_that_is_none_is_refused_saying_why(wire: bytes, why: str) -> None:
    assert decode_request(wire) == Refused(why)


def test_an_answer_the_client_cannot_read_is_a_refusal() -> None:
    assert decode_answer(b"") == Refused("the running devloop up gave no answer")
    assert isinstance(decode_answer(b'{"ok": true, "answer": "later"}\n'), Refused)
