from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest


def _docker_engine_up() -> bool:
    docker = shutil.which("docker")
    if docker is None:
        return False
    try:
        result = subprocess.run([docker, "info"], capture_output=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return result.returncode == 0


DOCKER_UP = _docker_engine_up()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    skip_docker = pytest.mark.skip(reason="no Docker engine answers `docker info` (start dockerd)")
    skip_kind = pytest.mark.skip(
        reason="needs a real kind cluster: kind and a Docker engine that can pull kindest/node"
    )
    have_kind = shutil.which("kind") is not None and DOCKER_UP
    for item in items:
        if "docker" in item.keywords and not DOCKER_UP:
            item.add_marker(skip_docker)
        if "kind" in item.keywords and not have_kind:
            item.add_marker(skip_kind)


@pytest.fixture
def app_dir(tmp_path: Path) -> Iterator[Path]:
    """A folder holding a minimal Python app (requirements.txt + app.py)."""
    (tmp_path / "requirements.txt").write_text("")
    (tmp_path / "app.py").write_text("print('hi')\n")
    yield tmp_path
