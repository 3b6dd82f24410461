"""Every sample builds and runs on the docker provider (`devloop push`), and answers as it should."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import http_get, wait_until

pytestmark = pytest.mark.docker
SAMPLES = Path(__file__).resolve().parents[2] / "samples"


def run(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "devloop", *args], cwd=folder, capture_output=True, text=True,
                          timeout=300, env={**os.environ, "NO_COLOR": "1"})  # fmt: skip


def push(sample: str, tmp_path: Path, *extra: str) -> tuple[Path, dict[str, list[str]]]:
    folder = tmp_path / sample
    shutil.copytree(SAMPLES / sample, folder)
    result = run(folder, "push", *extra)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr
    urls = {
        line.split(":", 1)[0]: line.split()[1:]
        for line in result.stdout.splitlines()
        if line and not line.startswith(("[", "pushed")) and ": http://" in line
    }
    return folder, urls


@pytest.mark.parametrize(
    ("sample", "app", "expected"),
    [
        ("python-web", "web", "hello from python-web"),
        ("node-web", "node-web", "hello from node-web"),
        ("go-web", "go-web", "hello from go-web"),
        ("static-site", "static-site", "hello from static-site"),
    ],
)
def test_single_app_samples(tmp_path: Path, sample: str, app: str, expected: str) -> None:
    folder, urls = push(sample, tmp_path)
    try:
        assert urls[app], urls
        for url in urls[app]:
            assert expected in (http_get(url) or "")
    finally:
        run(folder, "down")


def test_cf_manifest_sample_runs_from_the_manifest_alone(tmp_path: Path) -> None:
    folder, urls = push("cf-manifest-app", tmp_path, "--vars-file", "vars.yml", "--provider", "docker")
    try:
        assert not (folder / "devloop.yaml").exists() and not (folder / "Dockerfile").exists()
        (url,) = urls["cf-app"]
        assert http_get(url) == "hello from a cf manifest\n"
        assert http_get(url + "/health") == "ok\n"
    finally:
        run(folder, "down", "--provider", "docker", "--vars-file", "vars.yml")


def test_multi_app_sample_web_and_worker_share_redis(tmp_path: Path) -> None:
    folder, urls = push("multi-app", tmp_path)
    try:
        assert set(urls) == {"web"}  # redis and the worker have no route
        (url,) = urls["web"]
        for job in range(3):
            assert "queued:" in (http_get(f"{url}/job{job}") or "")
        done = wait_until(
            lambda: _done(http_get(url + "/") or "") >= 3, timeout=30, what="the worker to do 3 jobs"
        )
        assert done
    finally:
        run(folder, "down")


def _done(body: str) -> int:
    return int(body.rsplit("done:", 1)[1].strip()) if "done:" in body else -1
