"""The local engine's reads over its Unix socket: a fake Engine API on a real Unix socket answers as
Docker does (JSON bodies, `message` errors, framed logs), and everything else goes to the SDK."""

from __future__ import annotations

import http.server
import json
import socketserver
import struct
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar
from urllib.parse import parse_qs, urlsplit

import pytest

from devloop.adapters import dockerhttp, dockersdk
from devloop.adapters.dockerhttp import HttpDockerEngine, demultiplexed, open_engine
from devloop.errors import (
    DockerConflictError,
    DockerNotFoundError,
    DockerRefusedError,
    DockerUnavailableError,
)
from tests.fakes.docker import FakeDockerEngine


def frame(stream: int, data: bytes) -> bytes:
    return struct.pack(">BxxxI", stream, len(data)) + data


INSPECT = {
    "Id": "abc123", "Name": "/devloop-web-0",
    "State": {"Status": "running", "Running": True, "ExitCode": 0, "StartedAt": "2026-01-01T00:00:00Z"},
    "Config": {"Labels": {"devloop.app": "web"}, "Env": ["A=1"], "User": "app", "Tty": False},
    "HostConfig": {"NetworkMode": "devloop-x", "Memory": 134217728},
    "NetworkSettings": {"Ports": {"8080/tcp": [{"HostIp": "127.0.0.1", "HostPort": "32768"}]}},
}  # fmt: skip
SUMMARY = {"Id": "abc123", "Names": ["/devloop-web-0"], "State": "running", "Labels": {"devloop.app": "web"},
           "Ports": [{"IP": "127.0.0.1", "PrivatePort": 8080, "PublicPort": 32768, "Type": "tcp"}]}  # fmt: skip
FRAMED = frame(1, b"2026-01-01T00:00:00.000000001Z out\n") + frame(2, b"2026-01-01T00:00:01Z err\n")


class Engine(http.server.BaseHTTPRequestHandler):
    """Docker's answers for a few paths; every request is kept in `seen`."""

    protocol_version = "HTTP/1.1"
    seen: ClassVar[list[tuple[str, dict[str, list[str]]]]] = []

    def address_string(self) -> str:
        return "unix"

    def log_message(self, *_args: object) -> None:
        pass

    def answer(self, status: int, body: bytes, kind: str = "application/json") -> None:
        self.send_response(status)
        if kind:
            self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        self.seen.append((url.path, parse_qs(url.query)))
        routes: dict[str, tuple[int, bytes, str]] = {
            "/_ping": (200, b"OK", "text/plain"),
            "/version": (200, json.dumps({"Version": "27.1.0", "ApiVersion": "1.46"}).encode(), "application/json"),
            "/containers/json": (200, json.dumps([SUMMARY]).encode(), "application/json"),
            "/containers/abc123/json": (200, json.dumps(INSPECT).encode(), "application/json"),
            "/containers/old/json": (200, json.dumps(INSPECT).encode(), "application/json"),
            "/containers/abc123/logs": (200, FRAMED, "application/vnd.docker.multiplexed-stream"),
            "/containers/tty/logs": (200, b"raw line\r\n", "application/vnd.docker.raw-stream"),
            "/containers/old/logs": (200, FRAMED, ""),  # an engine under API 1.42 names no kind
            "/containers/busy/json": (409, b'{"message": "container busy is restarting"}', "application/json"),
            "/containers/broken/json": (500, b'{"message": "driver failed"}', "application/json"),
            "/images/devloop/web:1/json": (200, b'{"RepoDigests": ["r/web@sha256:1"], "Config": {"User": "app"}}',
                                           "application/json"),
        }  # fmt: skip
        status, body, kind = routes.get(url.path, (404, b'{"message": "No such object"}', "application/json"))
        self.answer(status, body, kind)


class UnixServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


@pytest.fixture
def socket_path(tmp_path: Path) -> Iterator[str]:
    path = str(tmp_path / "docker.sock")
    server = UnixServer(path, Engine)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    Engine.seen = []
    yield path
    server.shutdown()
    server.server_close()


@pytest.fixture
def engine(socket_path: str, monkeypatch: pytest.MonkeyPatch) -> HttpDockerEngine:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{socket_path}")
    opened = open_engine(timeout=5)
    assert isinstance(opened, HttpDockerEngine)
    return opened


def test_list_and_inspect_read_the_engines_json(engine: HttpDockerEngine) -> None:
    (listed,) = engine.containers(["devloop.project=p", "devloop.app=web"])
    assert (listed.id, listed.name, listed.status, listed.ports[0].host_port) == ("abc123", "devloop-web-0",
                                                                                  "running", 32768)  # fmt: skip
    path, query = Engine.seen[-1]
    assert path == "/containers/json" and query["all"] == ["1"]
    assert json.loads(query["filters"][0]) == {"label": ["devloop.project=p", "devloop.app=web"]}
    inspected = engine.container("abc123")
    assert (inspected.user, inspected.env, inspected.memory_bytes, inspected.network_mode) == (
        "app", ("A=1",), 134217728, "devloop-x"
    )
    assert engine.version().version == "27.1.0"


def test_images_are_present_or_not(engine: HttpDockerEngine) -> None:
    assert engine.image_present("devloop/web:1")
    assert not engine.image_present("devloop/web:2")
    assert engine.repo_digests("devloop/web:1") == ("r/web@sha256:1",)
    assert engine.image_user("devloop/web:1") == "app"
    assert Engine.seen[1][0] == "/images/devloop/web:1/json"  # after the ping of open_engine


def test_the_engines_no_maps_into_devlops_errors_with_its_message(engine: HttpDockerEngine) -> None:
    with pytest.raises(DockerNotFoundError, match="No such object"):
        engine.container("gone")
    with pytest.raises(DockerConflictError, match="restarting"):
        engine.container("busy")
    with pytest.raises(DockerRefusedError, match="driver failed") as refused:
        engine.container("broken")
    assert not isinstance(refused.value, DockerNotFoundError | DockerConflictError)


def test_a_logs_backlog_without_frame_headers(engine: HttpDockerEngine) -> None:
    out = b"2026-01-01T00:00:00.000000001Z out\n2026-01-01T00:00:01Z err\n"
    assert b"".join(engine.log_stream("abc123", follow=False, since_ns=1_500_000_000_000_000_007)) == out + b"\n"
    path, query = Engine.seen[-1]
    assert path == "/containers/abc123/logs"
    assert (query["since"], query["timestamps"], query["tail"]) == (["1500000000.000000007"], ["1"], ["all"])
    assert b"".join(engine.log_stream("tty", follow=False, tail=5)) == b"raw line\r\n\n"
    assert Engine.seen[-1][1]["tail"] == ["5"]
    # An older engine says no kind: the container's Tty decides (false here: framed).
    assert b"".join(engine.log_stream("old", follow=False)) == out + b"\n"
    assert engine.logs("abc123", 1) == ("2026-01-01T00:00:01Z err",)


def test_frames_come_apart_in_order_and_a_bodys_unframed_rest_stays() -> None:
    assert demultiplexed(frame(1, b"a") + frame(2, b"bc") + frame(1, b"")) == b"abc"
    assert demultiplexed(frame(1, b"a") + b"plain text after") == b"aplain text after"
    assert demultiplexed(b"") == b""


def test_an_engine_that_is_not_there(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path / 'none.sock'}")
    with pytest.raises(DockerUnavailableError, match="cannot reach the Docker engine") as lost:
        open_engine(timeout=1)
    assert lost.value.reason == "the engine is not running or the socket does not exist"


def test_writes_go_through_the_sdk_opened_once(engine: HttpDockerEngine, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeDockerEngine()
    opened: list[float] = []

    def open_sdk(timeout: float = 5.0) -> FakeDockerEngine:
        opened.append(timeout)
        return fake

    monkeypatch.setattr(dockersdk, "open_engine", open_sdk)
    container = fake.add_container("devloop-web-0")
    engine.kill(container.id, "HUP")
    engine.set_restart_policy(container.id, "no")
    assert opened == [5]
    assert [name for name, _ in fake.calls] == ["kill", "set_restart_policy"]
    engine.close()
    assert fake.closed


def test_a_remote_engine_is_the_sdks_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", "tcp://10.0.0.1:2376")
    sentinel = FakeDockerEngine()
    monkeypatch.setattr(dockersdk, "open_engine", lambda timeout=5.0: sentinel)
    assert dockerhttp.local_socket() is None
    assert open_engine() is sentinel
    monkeypatch.delenv("DOCKER_HOST")
    assert dockerhttp.local_socket() == "/var/run/docker.sock"
