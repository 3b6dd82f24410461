"""The Docker engine goes away mid-run and comes back: devloop says so, keeps serving, recovers."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.devloop_process import DevloopProcess
from tests.e2e.scenario import edit_greeting, serves
from tests.e2e.test_up_docker import everything_of
from tests.helpers import copy_sample, wait_until, without_sync_rules

pytestmark = pytest.mark.docker
ENGINE_SOCKET = "/var/run/docker.sock"


class Relay:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.proc: subprocess.Popen[str] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.fakes.unix_relay", str(self.path), ENGINE_SOCKET],
            stdout=subprocess.PIPE, text=True, cwd=Path(__file__).resolve().parents[2],
        )  # fmt: skip
        assert self.proc.stdout is not None and self.proc.stdout.readline().strip() == "ready"

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self.path.unlink(missing_ok=True)


@pytest.fixture
def relay(tmp_path: Path) -> Iterator[Relay]:
    if not Path(ENGINE_SOCKET).exists():
        pytest.skip(f"needs the engine on {ENGINE_SOCKET}")
    relay = Relay(tmp_path / "engine.sock")
    relay.start()
    yield relay
    relay.kill()


@pytest.mark.fault("the Docker engine goes away while idle and during a build, then returns", messages=2)
def test_engine_outage_is_reported_survived_and_recovered(tmp_path: Path, relay: Relay) -> None:
    folder = copy_sample("python-web", tmp_path)
    without_sync_rules(folder)  # every edit rebuilds
    env = {"DOCKER_HOST": f"unix://{relay.path}"}
    devloop = DevloopProcess("up", "--no-tui", "--down-on-exit", cwd=folder, env=env)
    try:
        url = devloop.wait_for(r"^web: (http://\S+)$").group(1)
        mark = len(devloop.lines)
        relay.kill()
        devloop.wait_for(r"^\[API\] devloop \| the Docker engine at unix://\S+ is not answering", start=mark)
        assert serves(url, "hello from python-web")  # the instances keep serving meanwhile
        edit_greeting(folder, "while-down")
        devloop.wait_for(r"^\[API\] web \| build failed: .*(Docker engine|docker)", start=mark)
        assert serves(url, "hello from python-web")
        relay.start()
        edit_greeting(folder, "after-recovery")
        wait_until(
            lambda: serves(url, "after-recovery"), timeout=90, what="a build after the engine returned"
        )
        assert devloop.interrupt() == 130
        assert "Traceback" not in devloop.output
    finally:
        devloop.kill()
    assert everything_of(folder) == []


@pytest.mark.fault("the Docker engine goes away during a rollout, then returns", messages=1)
def test_engine_outage_during_a_rollout_keeps_the_old_version_and_recovers(
    tmp_path: Path, relay: Relay
) -> None:
    folder = copy_sample("python-web", tmp_path)
    without_sync_rules(folder)
    devloop = DevloopProcess("up", "--no-tui", "--down-on-exit", cwd=folder,
                             env={"DOCKER_HOST": f"unix://{relay.path}"})  # fmt: skip
    try:
        url = devloop.wait_for(r"^web: (http://\S+)$").group(1)
        mark = len(devloop.lines)
        edit_greeting(folder, "during-the-rollout")
        devloop.wait_for(r"^\[API\] web \| starting 2 instance\(s\)", start=mark)
        relay.kill()  # mid-rollout: new instances half started
        failed = devloop.wait_for(r"^\[API\] web \| deploy failed: .*", start=mark).group(0)
        assert "Docker engine" in failed and "not answering" in failed, failed
        assert serves(url, "hello from python-web")  # the old version never left rotation
        relay.start()
        edit_greeting(folder, "after-the-rollout-outage")
        wait_until(lambda: serves(url, "after-the-rollout-outage"), timeout=90, what="the next rollout")
        for _ in range(6):
            assert serves(url, "after-the-rollout-outage")  # half-started instances are not in rotation
        assert devloop.interrupt() == 130
        assert "Traceback" not in devloop.output
    finally:
        devloop.kill()
    assert everything_of(folder) == []  # what the broken rollout left was replaced, then removed
