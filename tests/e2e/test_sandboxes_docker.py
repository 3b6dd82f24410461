"""Network sandboxes on the real engine: a rebuilt version's instances start in the sandboxes
parked after the first deploy, answer on the project's network by the app's name (and no parked
sandbox does), survive a crash in the same network, and the parked ones go with devloop."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import docker
import pytest

from devloop.providers.shared import project_id
from tests.devloop_process import DevloopProcess
from tests.e2e.scenario import edit_greeting, serves
from tests.e2e.test_up_docker import everything_of, parked_sandboxes_of, unused_sandboxes_of
from tests.helpers import copy_sample, wait_until, without_sync_rules

pytestmark = pytest.mark.docker


def instances_of(folder: Path) -> list[dict[str, Any]]:
    client = docker.from_env()
    try:
        found = [
            client.api.inspect_container(c["Id"])
            for c in everything_of(folder)
            if "devloop.sandbox" not in c["Labels"]
        ]  # fmt: skip
        return [c for c in found if c["State"]["Running"]]
    finally:
        client.close()


def test_a_rebuild_starts_in_parked_sandboxes_that_answer_by_name_and_go_with_devloop(tmp_path: Path) -> None:
    folder = copy_sample("python-web", tmp_path)
    without_sync_rules(folder)
    network = f"devloop-{project_id(folder / 'devloop.yaml')}"
    client = docker.from_env()
    devloop = DevloopProcess("up", "--no-tui", cwd=folder)
    try:
        url = devloop.wait_for(r"^web: (http://web\.localhost:\d+)$", timeout=300).group(1)
        wait_until(lambda: len(parked_sandboxes_of(folder)) == 2, timeout=60, what="two parked sandboxes")
        parked = set(parked_sandboxes_of(folder))
        for sandbox in parked:  # off the network: no name of the app resolves to them
            assert network not in client.api.inspect_container(sandbox)["NetworkSettings"]["Networks"]

        edit_greeting(folder, "edited-in-a-sandbox")
        wait_until(lambda: serves(url, "edited-in-a-sandbox"), timeout=120, what="the edited response")
        devloop.wait_for(r"^\[API\] web \| stopping 2 old container\(s\)$")
        wait_until(lambda: len(instances_of(folder)) == 2, timeout=60, what="the old instances gone")
        instances = instances_of(folder)
        joined = {c["HostConfig"]["NetworkMode"].removeprefix("container:") for c in instances}
        assert joined == parked  # each new instance runs in one of them, none shares one
        addresses = set()
        for sandbox in joined:
            endpoint = client.api.inspect_container(sandbox)["NetworkSettings"]["Networks"][network]
            assert "web" in endpoint["Aliases"]
            addresses.add(endpoint["IPAddress"])
        # Another container of the project finds exactly the serving instances by the app's name,
        # though two new sandboxes are parked for the next save by now.
        wait_until(lambda: len(parked_sandboxes_of(folder)) == 2, timeout=60, what="two new parked ones")
        lookup = "import socket; print(' '.join(sorted({a[4][0] for a in socket.getaddrinfo('web', 8080)})))"
        found = client.api.exec_create(instances[0]["Id"], ["python3", "-c", lookup])
        assert set(client.api.exec_start(found["Id"]).decode().split()) == addresses

        # A crash restarts the instance in the same sandbox: same network, still served.
        crashed = instances[0]["Id"]
        killer = client.api.exec_create(crashed, ["sh", "-c", "kill -9 -1"])  # every process of the app's user
        client.api.exec_start(killer["Id"])
        wait_until(lambda: client.api.inspect_container(crashed)["RestartCount"] >= 1 and
                   client.api.inspect_container(crashed)["State"]["Running"], timeout=60,
                   what="Docker restarting the crashed instance")  # fmt: skip
        wait_until(lambda: serves(url, "edited-in-a-sandbox"), timeout=60, what="the app serving again")
        assert client.api.inspect_container(crashed)["HostConfig"]["NetworkMode"] == instances[0]["HostConfig"]["NetworkMode"]
        assert devloop.interrupt() == 130
    finally:
        devloop.kill()
        client.close()
    assert unused_sandboxes_of(folder) == []  # parked for this devloop's next save: gone with it
    assert len(instances_of(folder)) == 2  # the apps keep running, each in its sandbox
    down = subprocess.run([sys.executable, "-m", "devloop", "down"], cwd=folder, capture_output=True, text=True)
    assert down.returncode == 0 and "removed 2 instance(s)" in down.stdout
    assert everything_of(folder) == []
