"""A fresh laptop: the services sample's images are not on the machine, and `devloop up` pulls them
(through the engine's registry mirror, Debian's docker-registry on loopback, which .ci/run starts
because nothing can be pulled from the internet here), then serves."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from devloop.adapters.dockercli import detect
from tests.devloop_process import DevloopProcess
from tests.helpers import copy_sample, http_get, wait_until

pytestmark = [pytest.mark.docker, pytest.mark.exclusive]  # it removes images every test uses
IMAGES = ("postgres:16", "redis:7")


def loopback_mirror() -> str | None:
    """`127.0.0.1:PORT` of the engine's registry mirror on loopback, if it has one."""
    client = docker.from_env()
    try:
        mirrors = client.info().get("RegistryConfig", {}).get("Mirrors") or []
    finally:
        client.close()
    for mirror in mirrors:
        host = str(mirror).removeprefix("http://").removeprefix("https://").rstrip("/")
        if host.startswith(("127.0.0.1:", "localhost:")):
            return host
    return None


@pytest.fixture
def images_only_in_the_mirror() -> Iterator[str]:
    """The sample's service images pushed to the mirror and gone from the machine (a backup tag
    keeps their layers, so the pull fetches manifests and reuses them); put back afterwards."""
    mirror = loopback_mirror()
    if mirror is None:
        pytest.skip("the Docker engine has no registry mirror on loopback (.ci/run starts one)")
    cli = detect().path

    def docker_cli(*args: str) -> None:
        subprocess.run([cli, *args], check=True, capture_output=True, timeout=300)

    for image in IMAGES:
        docker_cli("tag", image, f"{mirror}/library/{image}")
        docker_cli("push", f"{mirror}/library/{image}")
        docker_cli("tag", image, f"devloop-test/backup-{image}")
        docker_cli("rmi", f"{mirror}/library/{image}", image)
    try:
        yield mirror
    finally:
        for image in IMAGES:
            subprocess.run([cli, "tag", f"devloop-test/backup-{image}", image], capture_output=True)
            subprocess.run([cli, "rmi", f"devloop-test/backup-{image}"], capture_output=True)


def test_up_pulls_the_missing_service_images_and_serves(
    images_only_in_the_mirror: str, tmp_path: Path
) -> None:
    folder = copy_sample("services-app", tmp_path)
    up = DevloopProcess("up", "--no-tui", cwd=folder)
    try:
        url = up.wait_for(r"^web: (http://web\.localhost:\d+)$", timeout=300).group(1)
        wait_until(lambda: http_get(url) is not None, timeout=60, what="the app to serve")
        for image in IMAGES:
            up.wait_for(rf"^\[API\] web \| pulling {image} from docker\.io$")
            up.wait_for(rf"^\[API\] web \| pulled {image} \(.*\) in \d+\.\ds$")
        assert up.interrupt() == 130
    finally:
        up.kill()
        subprocess.run([sys.executable, "-m", "devloop", "down", "--purge"], cwd=folder,
                       capture_output=True, timeout=120)  # fmt: skip
