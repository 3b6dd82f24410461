"""`devloop up --no-tui` end to end on the docker provider, with a real Docker engine."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import pytest

from devloop.providers.shared import project_id
from tests.devloop_process import DevloopProcess
from tests.e2e.scenario import edit_greeting, serves, up_edit_interrupt
from tests.helpers import copy_sample, wait_until, without_sync_rules

pytestmark = pytest.mark.docker
SAMPLES = Path(__file__).resolve().parents[2] / "samples"


@pytest.fixture
def sample(tmp_path: Path) -> Iterator[Path]:
    folder = copy_sample("python-web", tmp_path)
    yield folder
    subprocess.run([sys.executable, "-m", "devloop", "down"], cwd=folder, capture_output=True, timeout=60)


def everything_of(folder: Path) -> list[dict[str, Any]]:
    """The project's containers as the list endpoint has them, network sandboxes too."""
    client = docker.from_env()
    try:
        label = f"devloop.project={project_id(folder / 'devloop.yaml')}"
        found: list[dict[str, Any]] = client.api.containers(all=True, filters={"label": label})
        return found
    finally:
        client.close()


def containers_of(folder: Path) -> list[str]:
    """The project's containers, less the network sandboxes (providers/docker/sandboxes.py): a
    pod's pause container, as it were, made ahead and gone with its instance."""
    return [c["Names"][0].lstrip("/") for c in everything_of(folder) if "devloop.sandbox" not in c["Labels"]]


def unused_sandboxes_of(folder: Path) -> list[str]:
    """Sandboxes no instance runs in."""
    found = everything_of(folder)
    joined = {c["HostConfig"]["NetworkMode"].removeprefix("container:") for c in found}
    return [c["Id"] for c in found if "devloop.sandbox" in c["Labels"] and c["Id"] not in joined]


def parked_sandboxes_of(folder: Path) -> list[str]:
    """Sandboxes ready for the next save: unused, running, and off the project's network."""
    network = f"devloop-{project_id(folder / 'devloop.yaml')}"
    by_id = {c["Id"]: c for c in everything_of(folder)}
    return [
        sandbox for sandbox in unused_sandboxes_of(folder)
        if sandbox in by_id and by_id[sandbox]["State"] == "running"
        and network not in (by_id[sandbox]["NetworkSettings"]["Networks"] or {})
    ]  # fmt: skip


@pytest.mark.parametrize("path", ["sync", "rebuild"])
def test_up_edit_serve_logs_and_interrupt(sample: Path, path: str) -> None:
    devloop = up_edit_interrupt(sample, path)
    devloop.wait_for(r"^web keeps running at 127\.0\.0\.1:\d+, 127\.0\.0\.1:\d+")
    assert len(containers_of(sample)) == 2  # exactly the app's instances, left running by design
    assert unused_sandboxes_of(sample) == []  # those made for a next deploy went with devloop
    down = subprocess.run(
        [sys.executable, "-m", "devloop", "down"], cwd=sample, capture_output=True, text=True
    )
    assert down.returncode == 0 and "removed 2 instance(s)" in down.stdout
    assert everything_of(sample) == []


def test_down_on_exit_leaves_nothing(sample: Path) -> None:
    devloop = DevloopProcess("up", "--no-tui", "--down-on-exit", cwd=sample)
    try:
        devloop.wait_for(r"^web: http://")
        assert devloop.interrupt() == 130
    finally:
        devloop.kill()
    assert "removed 2 instance(s)" in devloop.output
    assert everything_of(sample) == []


def test_a_second_up_adopts_what_is_running(sample: Path) -> None:
    first = DevloopProcess("up", "--no-tui", cwd=sample)
    try:
        first.wait_for(r"^web: http://")
        assert first.interrupt() == 130
    finally:
        first.kill()
    before = sorted(containers_of(sample))
    second = DevloopProcess("up", "--no-tui", cwd=sample)
    try:
        second.wait_for(r"adopting 2 running instance\(s\)")
        second.wait_for(r"^web: http://")
        assert sorted(containers_of(sample)) == before
        assert second.interrupt() == 130
    finally:
        second.kill()


def test_manual_mode_queues_until_devloop_trigger(sample: Path) -> None:
    without_sync_rules(sample)  # rebuild path
    devloop = DevloopProcess("up", "--no-tui", "--manual", cwd=sample)
    try:
        url = devloop.wait_for(r"^web: (http://\S+)$").group(1)
        mark = len(devloop.lines)
        edit_greeting(sample, "queued-edit")
        devloop.wait_for(
            r"^\[API\] web \| 1 change\(s\) queued \(manual mode\): run `devloop trigger web`$", start=mark
        )
        assert serves(url, "hello from python-web")  # nothing was built
        assert not any("running devloop/web" in line for line in devloop.lines[mark:])
        trigger = subprocess.run([sys.executable, "-m", "devloop", "trigger", "web"], cwd=sample,
                                 capture_output=True, text=True, timeout=30)  # fmt: skip
        assert trigger.returncode == 0 and trigger.stdout.strip() == "triggered web", trigger.stderr
        wait_until(lambda: serves(url, "queued-edit"), timeout=60, what="the triggered build to serve")
        assert devloop.interrupt() == 130
    finally:
        devloop.kill()


def test_trigger_without_a_running_up_says_so(sample: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "devloop", "trigger"], cwd=sample, capture_output=True, text=True
    )
    assert result.returncode == 2
    assert "error: no devloop up is running for this project" in result.stderr
    assert "Traceback" not in result.stderr
