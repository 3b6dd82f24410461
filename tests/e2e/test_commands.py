"""cf-style commands on the docker provider, with the real engine."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.devloop_process import DevloopProcess
from tests.e2e.scenario import serves
from tests.e2e.test_up_docker import containers_of
from tests.helpers import copy_sample, wait_until

pytestmark = pytest.mark.docker


def run_devloop(
    folder: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "devloop", *args], cwd=folder, capture_output=True, text=True,
                          timeout=120, env={**os.environ, **(env or {})})  # fmt: skip


@pytest.fixture
def sample(tmp_path: Path) -> Iterator[Path]:
    folder = copy_sample("python-web", tmp_path)
    (folder / ".env").write_text("API_TOKEN=planted-secret-31\n")
    (folder / "devloop.yaml").write_text((folder / "devloop.yaml").read_text() + "    env_file: .env\n")
    yield folder
    run_devloop(folder, "down")


def devloop(folder: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return run_devloop(folder, *args, env=env)


def status(folder: Path) -> dict:
    result = devloop(folder, "status", "--json")
    assert result.returncode == 0, result.stderr
    return {app["name"]: app for app in json.loads(result.stdout)["apps"]}


@pytest.mark.parametrize("provider", ["docker", "kind"])
def test_commands_against_a_running_up(
    sample: Path, tmp_path: Path, provider: str, request: pytest.FixtureRequest
) -> None:
    """The same commands on both providers (kind: the fake API server and fake kind CLI)."""
    env: dict[str, str] = {}
    if provider == "kind":
        env = request.getfixturevalue("fake_kind").env()

    def devloop(folder: Path, *args: str, env: dict[str, str] = env) -> subprocess.CompletedProcess[str]:
        return run_devloop(folder, *args, "--provider", provider, env=env)

    def status(folder: Path) -> dict:
        result = devloop(folder, "status", "--json")
        assert result.returncode == 0, result.stderr
        return {app["name"]: app for app in json.loads(result.stdout)["apps"]}

    up = DevloopProcess("up", "--no-tui", "--provider", provider, cwd=sample, env=env)
    try:
        url = up.wait_for(r"^web: (http://\S+)$").group(1)
        web = status(sample)["web"]
        assert (
            web["state"] == "running"
            and web["instances"] == {"running": 2, "desired": 2}
            and web["url"] == url
        )

        # `devloop env` reads the running instance (kind: over exec), system- then user-provided.
        shown = devloop(sample, "env", "web")
        assert shown.returncode == 0, shown.stderr
        system, user = shown.stdout.split("User-Provided:")
        assert system.startswith("System-Provided: (read from instance ") and "PORT: 8080" in system
        assert "API_TOKEN: ••••••  (secret)" in user and "planted-secret-31" not in shown.stdout

        before = (sample / "devloop.yaml").read_text()
        result = devloop(sample, "set-env", "web", "SUFFIX", " set live")
        # The save itself may reach the running up first (it watches its config): either way it is applied.
        assert result.returncode == 0 and "the running devloop up picked it up" in result.stdout
        wait_until(lambda: serves(url, "hello from python-web set live"), timeout=60, what="the new env")
        assert all(line in (sample / "devloop.yaml").read_text() for line in before.splitlines())

        assert devloop(sample, "scale", "web", "-i", "3").returncode == 0
        wait_until(lambda: status(sample)["web"]["state"] == "running"
                   and status(sample)["web"]["instances"] == {"running": 3, "desired": 3},
                   timeout=60, what="three instances, deployed")  # fmt: skip
        mark = len(up.lines)
        assert devloop(sample, "restart", "web").returncode == 0
        up.wait_for(r"^\[API\] web \| restarted 3 instance\(s\)$", start=mark)
        assert serves(url, "set live")

        recorder = tmp_path / "opened.txt"
        browser = tmp_path / "browser.sh"
        browser.write_text(f'#!/bin/sh\necho "$1" > {recorder}\n')
        browser.chmod(0o755)
        opened = devloop(sample, "open", "web", env={**env, "BROWSER": str(browser)})
        assert opened.returncode == 0 and opened.stdout.strip() == url
        wait_until(recorder.exists, timeout=10, what="the browser to be called")
        assert recorder.read_text().strip() == url
        assert up.interrupt() == 130
    finally:
        up.kill()


def test_push_ssh_env_and_status_without_up(sample: Path) -> None:
    pushed = devloop(sample, "push")
    assert pushed.returncode == 0, pushed.stdout + pushed.stderr
    lines = pushed.stdout.splitlines()
    urls = next(line for line in lines if line.startswith("web: ")).split()[1:]
    assert len(urls) == 2 and all(serves(u, "hello from python-web") for u in urls)
    assert "planted-secret-31" not in pushed.stdout + pushed.stderr
    assert len(containers_of(sample)) == 2

    rows = status(sample)
    assert rows["web"]["state"] == "running" and rows["web"]["instances"]["running"] == 2

    ssh = devloop(sample, "ssh", "web", "-i", "1", "-c", "id -u; echo index=$CF_INSTANCE_INDEX")
    assert ssh.returncode == 0 and ssh.stdout.split() == ["10001", "index=1"]

    env = devloop(sample, "env", "web")
    assert "API_TOKEN: ••••••  (secret)" in env.stdout and "planted-secret-31" not in env.stdout
    shown = devloop(sample, "env", "web", "--show-secrets")
    assert "API_TOKEN: planted-secret-31  (secret)" in shown.stdout

    no_up = devloop(sample, "scale", "web", "-i", "1")
    assert no_up.returncode == 2 and "no devloop up is running for this project" in no_up.stderr
