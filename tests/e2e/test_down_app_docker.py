"""`devloop down APP` (README: `cf delete APP` is `devloop down [APP]`) removes that app alone, on the real engine."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from devloop.providers.docker.labels import LABEL_APP, LABEL_PROJECT
from devloop.providers.shared import project_id

pytestmark = pytest.mark.docker

CONFIG = """\
version: 1
provider: docker
apps:
  - {name: first, image: "busybox:1.36", command: sleep 3600, instances: 2, no_route: true, health_check: {type: process}}
  - {name: second, image: "busybox:1.36", command: sleep 3600, no_route: true, health_check: {type: process}}
"""


def devloop(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "devloop", *args], cwd=folder, capture_output=True, text=True,
                          timeout=300, env={**os.environ})  # fmt: skip


def apps_running(folder: Path) -> list[str]:
    client = docker.from_env()
    try:
        found = client.containers.list(
            filters={"label": f"{LABEL_PROJECT}={project_id(folder / 'devloop.yaml')}"}
        )
        return sorted(c.labels[LABEL_APP] for c in found)
    finally:
        client.close()


@pytest.fixture
def project(tmp_path: Path) -> Iterator[Path]:
    (tmp_path / "devloop.yaml").write_text(CONFIG)
    yield tmp_path
    devloop(tmp_path, "down")


def test_down_app_removes_that_app_and_leaves_the_others_running(project: Path) -> None:
    pushed = devloop(project, "push")
    assert pushed.returncode == 0, pushed.stdout + pushed.stderr
    assert apps_running(project) == ["first", "first", "second"]
    down = devloop(project, "down", "first")
    assert down.returncode == 0, down.stderr
    assert down.stdout.strip() == "removed 2 instance(s)"
    assert apps_running(project) == ["second"]
    assert devloop(project, "down").stdout.strip() == "removed 1 instance(s)"
    assert apps_running(project) == []
