"""README claims about a running `devloop up` following its config, on the docker provider with
a real engine: a saved devloop.yaml takes effect field by field, and `devloop scale` sticks and
adds or removes instances as `cf scale` does, keeping the others."""

from __future__ import annotations

from pathlib import Path

import docker
import pytest

from devloop.providers.shared import project_id
from tests.e2e.scenario import serves, up_serving
from tests.e2e.test_commands import run_devloop, status
from tests.helpers import wait_until

pytestmark = pytest.mark.docker


def running(folder: Path) -> dict[str, tuple[str, int]]:
    """id -> (image, memory limit in MiB) of the app's running containers."""
    client = docker.from_env()
    try:
        label = f"devloop.project={project_id(folder / 'devloop.yaml')}"
        found = {}
        for summary in client.api.containers(filters={"label": label}):
            if "devloop.sandbox" in summary["Labels"]:
                continue  # the network an instance runs in, no instance (providers/docker/sandboxes.py)
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


def test_a_saved_config_takes_effect_field_by_field(python_web: Path) -> None:
    with up_serving(python_web) as (up, url):
        (image,) = {image for image, _memory in running(python_web).values()}
        mark = len(up.lines)
        edit(python_web, "instances: 2\n    memory: 128M", "instances: 3\n    memory: 200M")
        up.wait_for(r"^\[API\] web \| config changed \(instances, memory\): applying$", start=mark)
        wait_until(lambda: sorted(running(python_web).values()) == [(image, 200)] * 3, timeout=120,
                   what="three instances of the same image at 200M")  # fmt: skip
        wait_until(lambda: status(python_web)["web"]["instances"] == {"running": 3, "desired": 3},
                   timeout=60, what="status to show 3 of 3")  # fmt: skip
        assert status(python_web)["web"]["memory_mb"] == 200
        assert not any(line.startswith("[STG]") for line in up.lines[mark:])  # no rebuild
        assert serves(url, "hello from python-web")

        mark = len(up.lines)
        edit(python_web, "version: 1\n", "version: 1\nrouter_port: 18123\n")
        up.wait_for(r"^\[API\] devloop \| config changed \(router_port\): stop and start `devloop up` "
                    r"to apply it$", start=mark)  # fmt: skip
        mark = len(up.lines)
        edit(python_web, "instances: 3", "instances: [3")
        up.wait_for(r"^\[API\] devloop \| config not applied: .*devloop\.yaml:\d+", start=mark)
        assert serves(url, "hello from python-web")  # a broken save changes nothing
        edit(python_web, "instances: [3", "instances: 3")  # readable again, so `devloop down` cleans up


def test_scale_adds_and_removes_instances_and_sticks_across_config_reloads(python_web: Path) -> None:
    with up_serving(python_web) as (_up, url):
        first = set(running(python_web))
        scaled = run_devloop(python_web, "scale", "web", "-i", "3")
        assert scaled.returncode == 0 and "kept while this devloop up runs" in scaled.stdout
        wait_until(lambda: len(running(python_web)) == 3, timeout=90, what="a third instance")
        assert first < set(running(python_web))  # the two that ran keep running: one was added
        wait_until(lambda: status(python_web)["web"]["instances"] == {"running": 3, "desired": 3},
                   timeout=60, what="status to show 3 of 3")  # fmt: skip

        # A reload of the file (here through set-env) keeps the scaled count: a new env replaces
        # every instance, and three new ones replace the three that ran.
        before_env = set(running(python_web))
        assert run_devloop(python_web, "set-env", "web", "SUFFIX", " again").returncode == 0
        wait_until(lambda: serves(url, "hello from python-web again"), timeout=90, what="the new env")

        def replaced() -> set[str] | None:
            now = set(running(python_web))
            return now if len(now) == 3 and now.isdisjoint(before_env) else None

        after_env = wait_until(replaced, timeout=90, what="three new instances and the old ones stopped")
        assert status(python_web)["web"]["instances"]["desired"] == 3

        assert run_devloop(python_web, "scale", "web", "-i", "1").returncode == 0
        wait_until(lambda: len(running(python_web)) == 1, timeout=90, what="one instance left")
        assert set(running(python_web)) < after_env  # instance 0 kept; the others stopped
        assert serves(url, "hello from python-web again")
