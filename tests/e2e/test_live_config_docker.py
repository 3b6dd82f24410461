"""README claims about a running `devloop up` following its config, on the docker provider with
a real engine: a saved devloop.yaml takes effect field by field, and `devloop scale` sticks and
adds or removes instances as `cf scale` does, keeping the others."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from devloop.providers.docker import project_id
from tests.devloop_process import DevloopProcess
from tests.e2e.scenario import serves
from tests.e2e.test_commands import run_devloop, status
from tests.helpers import copy_sample, wait_until

pytestmark = pytest.mark.docker


@pytest.fixture
def sample(tmp_path: Path) -> Iterator[Path]:
    folder = copy_sample("python-web", tmp_path)
    yield folder
    subprocess.run([sys.executable, "-m", "devloop", "down"], cwd=folder, capture_output=True, timeout=60)


def running(folder: Path) -> dict[str, tuple[str, int]]:
    """id -> (image, memory limit in MiB) of the app's running containers."""
    client = docker.from_env()
    try:
        label = f"devloop.project={project_id(folder / 'devloop.yaml')}"
        found = {}
        for summary in client.api.containers(filters={"label": label}):
            try:  # one being stopped may go between the list and the inspect
                attrs = client.api.inspect_container(summary["Id"])
            except docker.errors.NotFound:
                continue
            if attrs["State"]["Running"]:
                found[summary["Id"]] = (attrs["Config"]["Image"], attrs["HostConfig"]["Memory"] // 2**20)
        return found
    finally:
        client.close()


def edit(folder: Path, old: str, new: str) -> None:
    config = folder / "devloop.yaml"
    text = config.read_text()
    assert old in text
    config.write_text(text.replace(old, new))


def test_a_saved_config_takes_effect_field_by_field(sample: Path) -> None:
    up = DevloopProcess("up", "--no-tui", cwd=sample)
    try:
        url = up.wait_for(r"^web: (http://web\.localhost:\d+)$", timeout=300).group(1)
        (image,) = {image for image, _memory in running(sample).values()}
        mark = len(up.lines)
        edit(sample, "instances: 2\n    memory: 128M", "instances: 3\n    memory: 200M")
        up.wait_for(r"^\[API\] web \| config changed \(instances, memory\): applying$", start=mark)
        wait_until(lambda: sorted(running(sample).values()) == [(image, 200)] * 3, timeout=120,
                   what="three instances of the same image at 200M")  # fmt: skip
        wait_until(lambda: status(sample)["web"]["instances"] == {"running": 3, "desired": 3}, timeout=60,
                   what="status to show 3 of 3")  # fmt: skip
        assert status(sample)["web"]["memory_mb"] == 200
        assert not any(line.startswith("[STG]") for line in up.lines[mark:])  # no rebuild
        assert serves(url, "hello from python-web")

        mark = len(up.lines)
        edit(sample, "version: 1\n", "version: 1\nrouter_port: 18123\n")
        up.wait_for(r"^\[API\] devloop \| config changed \(router_port\): stop and start `devloop up` "
                    r"to apply it$", start=mark)  # fmt: skip
        mark = len(up.lines)
        edit(sample, "instances: 3", "instances: [3")
        up.wait_for(r"^\[API\] devloop \| config not applied: .*devloop\.yaml:\d+", start=mark)
        assert serves(url, "hello from python-web")  # a broken save changes nothing
        assert up.interrupt() == 130
    finally:
        up.kill()


def test_scale_adds_and_removes_instances_and_sticks_across_config_reloads(sample: Path) -> None:
    up = DevloopProcess("up", "--no-tui", cwd=sample)
    try:
        url = up.wait_for(r"^web: (http://web\.localhost:\d+)$", timeout=300).group(1)
        first = set(running(sample))
        scaled = run_devloop(sample, "scale", "web", "-i", "3")
        assert scaled.returncode == 0 and "kept while this devloop up runs" in scaled.stdout
        wait_until(lambda: len(running(sample)) == 3, timeout=90, what="a third instance")
        assert first < set(running(sample))  # the two that ran keep running: one was added
        wait_until(lambda: status(sample)["web"]["instances"] == {"running": 3, "desired": 3}, timeout=60,
                   what="status to show 3 of 3")  # fmt: skip

        # A reload of the file (here through set-env) keeps the scaled count.
        assert run_devloop(sample, "set-env", "web", "SUFFIX", " again").returncode == 0
        wait_until(lambda: serves(url, "hello from python-web again"), timeout=90, what="the new env")
        wait_until(lambda: status(sample)["web"]["instances"] == {"running": 3, "desired": 3}, timeout=60,
                   what="still 3 after the reload")  # fmt: skip
        after_env = set(running(sample))
        assert len(after_env) == 3

        assert run_devloop(sample, "scale", "web", "-i", "1").returncode == 0
        wait_until(lambda: len(running(sample)) == 1, timeout=90, what="one instance left")
        assert set(running(sample)) < after_env  # instance 0 kept; the others stopped
        assert serves(url, "hello from python-web again")
        assert up.interrupt() == 130
    finally:
        up.kill()
