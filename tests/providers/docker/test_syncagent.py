"""The sync agent in a real container: one write unpacks the files, removes the gone ones and
signals PID 1; a container that restarted gets a new agent; an image that cannot run one (or a
step that fails) leaves the caller to fall back. Steps are composed safely for any file name."""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence

import docker
import pytest

from devloop.adapters import dockersdk
from devloop.adapters.dockerapi import ExecSession
from devloop.adapters.dockersdk import SdkDockerEngine
from devloop.errors import DockerConflictError
from devloop.providers.docker.syncagent import FileWrite, SyncAgents, request
from tests.fakes.docker import FakeDockerEngine
from tests.helpers import wait_until

# PID 1 records each SIGHUP it gets (sh runs the trap once its `sleep` ends).
TRAP = "trap 'echo hup >> /tmp/hups' HUP; while :; do sleep 0.05; done"


@pytest.fixture
def container() -> Iterator[tuple[SdkDockerEngine, str]]:
    """A container as generated images run: the app's user, no new privileges (so a root exec
    has no capabilities and only the app's user may signal PID 1)."""
    client = docker.from_env()
    made = client.containers.run(
        "devloop-base/debian:bookworm", ["sh", "-c", TRAP], detach=True, user="10001",
        security_opt=["no-new-privileges"], name=f"devloop-test-agent-{uuid.uuid4().hex[:8]}",
    )  # fmt: skip
    engine = dockersdk.open_engine()
    try:
        yield engine, str(made.id)
    finally:
        made.remove(force=True)
        engine.close()
        client.close()


def read(engine: SdkDockerEngine, cid: str, command: str) -> str:
    return engine.exec_output(cid, ["sh", "-c", command]).output.decode()


def agent_request(
    files: dict[str, bytes], gone: Sequence[str] = (), signal: str | None = None
) -> tuple[str, bytes]:
    asked = request([FileWrite(dest, data, 0o640) for dest, data in files.items()], gone, signal)
    assert asked is not None
    return asked


@pytest.mark.docker
def test_one_request_writes_removes_and_signals_and_the_agent_stays_for_the_next(
    container: tuple[SdkDockerEngine, str],
) -> None:
    engine, cid = container
    engine.exec_output(cid, ["sh", "-c", "echo old > '/tmp/it s old.py'"])  # as the app's user
    agents = SyncAgents(lambda: engine)
    files = {"/tmp/app/app.py": b"print('new')\n", "/tmp/app/deep/no newline": b"x" * 70_000}
    assert agents.apply(cid, *agent_request(files, ["/tmp/it s old.py"], "HUP"))
    listing = ("cat /tmp/app/app.py; stat -c '%a %u' /tmp/app/app.py; wc -c < '/tmp/app/deep/no newline';"
               " [ -e '/tmp/it s old.py' ] && echo kept || echo removed")  # fmt: skip
    assert read(engine, cid, listing) == "print('new')\n640 10001\n70000\nremoved\n"
    wait_until(lambda: read(engine, cid, "cat /tmp/hups 2>/dev/null") == "hup\n", what="PID 1 got SIGHUP")
    assert agents.apply(cid, *agent_request({"/tmp/app/app.py": b"print('newer')\n"}))
    assert read(engine, cid, "cat /tmp/app/app.py") == "print('newer')\n"
    agents.close()


@pytest.mark.docker
def test_a_failed_write_asks_for_the_fallback_and_its_bytes_are_skipped_never_run(
    container: tuple[SdkDockerEngine, str],
) -> None:
    engine, cid = container
    agents = SyncAgents(lambda: engine)
    # /etc is root's: the app's user cannot write there; the content would be a command if run.
    evil = b"touch /tmp/ran\n" * 3
    assert not agents.apply(cid, *agent_request({"/etc/app.py": evil, "/tmp/ok.py": b"ok"}))
    assert agents.apply(cid, *agent_request({"/tmp/after.py": b"after"}))  # in step again
    assert read(engine, cid, "cat /tmp/after.py; ls /tmp/ran 2>&1 >/dev/null | wc -l") == "after1\n"
    agents.close()


@pytest.mark.docker
def test_a_restarted_container_gets_a_new_agent_and_a_failing_step_asks_for_the_fallback(
    container: tuple[SdkDockerEngine, str],
) -> None:
    engine, cid = container
    agents = SyncAgents(lambda: engine)
    assert agents.apply(cid, "true")
    engine.restart(cid, 1)  # the agent's exec dies with the container's processes
    assert agents.apply(cid, *agent_request({"/tmp/after-restart": b"x"}))
    assert read(engine, cid, "cat /tmp/after-restart") == "x"
    assert not agents.apply(cid, "false")  # the fallback will say what is wrong
    assert agents.apply(cid, "true")  # and the agent is still there
    agents.close()


class _NoShell:
    """What the engine gives for `/bin/sh` in an image without one: the process has exited."""

    def send(self, data: bytes) -> None:
        return None

    def answer(self, timeout_s: float) -> tuple[str, str]:
        raise DockerConflictError("the exec session ended (its process exited)")

    def close(self) -> None:
        return None


class _NoShellEngine(FakeDockerEngine):
    sessions = 0

    def exec_session(self, ref: str, argv: Sequence[str], user: str | None = None) -> ExecSession:
        self.sessions += 1
        return _NoShell()


def test_an_image_without_a_shell_is_not_asked_again_until_its_container_is_replaced() -> None:
    engine = _NoShellEngine()
    agents = SyncAgents(lambda: engine)
    assert not agents.apply("c1", "true")
    assert not agents.apply("c1", "true")
    assert engine.sessions == 1
    agents.keep_only({"c2"})
    assert not agents.apply("c2", "true") and engine.sessions == 2


def test_a_stopped_container_is_tried_again_next_time() -> None:
    engine = FakeDockerEngine()  # refuses exec sessions as the engine refuses a stopped container's
    agents = SyncAgents(lambda: engine)
    assert not agents.apply("c1", "true") and not agents.apply("c1", "true")
    assert len(engine.called("exec_session")) == 2


@pytest.mark.parametrize(
    ("files", "gone", "signal", "step"),
    [
        ([], [], "HUP", "kill -HUP 1"),
        ([], ["/app/a b.py", "/app/$(x)"], None, "rm -f -- '/app/a b.py' '/app/$(x)'"),
        ([FileWrite("/app/my app.py", b"abc", 0o755)], ["/app/old.py"], "USR1",
         "{ [ -d /app ] || mkdir -p /app; } && head -c 3 > '/app/my app.py' && chmod 755 '/app/my app.py'"
         " && rm -f -- /app/old.py && kill -USR1 1"),
        ([], [], None, ":"),
        ([], ["/app/two\nlines"], "HUP", None),  # cannot be one line: the caller uses the archive
        ([FileWrite("/app/new\rline", b"", 0o644)], [], None, None),
    ],
)  # fmt: skip
def test_requests_quote_every_name_and_refuse_what_cannot_be_one_line(
    files: list[FileWrite], gone: list[str], signal: str | None, step: str | None
) -> None:
    asked = request(files, gone, signal)
    assert (asked[0] if asked else None) == step
    if asked:
        assert asked[1] == b"".join(f.data for f in files)
