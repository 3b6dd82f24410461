"""`devloop up` in a folder with no config: detected, served, and the same project once `devloop init` saves it."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.devloop_process import DevloopProcess
from tests.e2e.scenario import serves
from tests.helpers import SAMPLES

pytestmark = pytest.mark.docker


@pytest.fixture
def bare_web(tmp_path: Path) -> Iterator[Path]:
    """samples/python-web without its devloop.yaml, in a folder named web."""
    folder = tmp_path / "web"
    shutil.copytree(SAMPLES / "python-web", folder)
    (folder / "devloop.yaml").unlink()
    yield folder
    down = subprocess.run([sys.executable, "-m", "devloop", "down", "--provider", "docker"], cwd=folder,
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert down.returncode == 0, down.stderr


def devloop(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "devloop", *args], cwd=folder, capture_output=True,
                          text=True, timeout=120)  # fmt: skip


def test_up_in_a_bare_folder_serves_and_init_keeps_the_same_project(bare_web: Path) -> None:
    up = DevloopProcess("up", "--no-tui", "--provider", "docker", cwd=bare_web)
    try:
        up.wait_for(r"no devloop\.yaml here: running web \(python\) in \. as detected; `devloop init` saves it")
        url = up.wait_for(r"^web: (http://web\.localhost:\d+)$", timeout=300).group(1)
        assert serves(url, "hello from python-web")
        # Beside it, a numeric loopback URL: for clients whose resolver knows no *.localhost.
        address = up.wait_for(r"^web: (http://127\.0\.0\.1:\d+)$").group(1)
        with urllib.request.urlopen(address, timeout=10) as answer:  # the system resolver's path
            assert b"hello from python-web" in answer.read()
        shown = json.loads(devloop(bare_web, "status", "--json", "--provider", "docker").stdout)
        assert shown["apps"][0]["address"] == address
        assert up.interrupt() == 130
    finally:
        up.kill()
    assert not (bare_web / "devloop.yaml").exists()  # nothing was written for the user

    # `devloop init` saves what was detected; the running instance is the same project's.
    assert devloop(bare_web, "init").returncode == 0
    (bare_web / "devloop.yaml").write_text(
        (bare_web / "devloop.yaml").read_text().replace("provider: kind", "provider: docker")
    )
    status = json.loads(devloop(bare_web, "status", "--json").stdout)
    (app,) = status["apps"]
    assert app["name"] == "web" and app["instances"] == {"running": 1, "desired": 1}
