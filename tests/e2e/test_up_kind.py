"""`devloop up --no-tui` end to end on the kind provider.

Against the fake API server (tests/fakes/kubeapi.py, pods as real containers)
and the fake `kind` on PATH; the `kind`-marked test runs the same scenario on
a real kind cluster where kind and Docker are installed.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import FakeKind
from tests.devloop_process import DevloopProcess
from tests.e2e.scenario import up_edit_interrupt
from tests.helpers import copy_sample, processes_matching, wait_until


@pytest.mark.docker
@pytest.mark.parametrize("path", ["sync", "rebuild"])
def test_up_on_the_fake_cluster(tmp_path: Path, fake_kind: FakeKind, path: str) -> None:
    sample = copy_sample("python-web", tmp_path)
    env = fake_kind.env()
    devloop = up_edit_interrupt(sample, path, "--provider", "kind", env=env)
    created = [c for c in fake_kind.calls() if c[:2] == ["create", "cluster"]]
    assert created and created[0][:3] == ["create", "cluster", "--name"] and created[0][3] == "devloop"
    assert any(
        c[:2] == ["load", "docker-image"] and c[2].startswith("devloop/web:") for c in fake_kind.calls()
    )
    cluster = fake_kind.cluster
    # Exactly the app's two pods stay (old ones of a rollout finish their grace period first).
    wait_until(lambda: len(cluster.call(cluster.api.running_containers)) == 2, timeout=30,  # type: ignore[attr-defined]
               what="two running pods")  # fmt: skip
    assert "web keeps running" in devloop.output
    down = subprocess.run([sys.executable, "-m", "devloop", "down", "--provider", "kind"], cwd=sample,
                          env={**os.environ, **env}, capture_output=True, text=True, timeout=60)  # fmt: skip
    assert down.returncode == 0 and "removed 2 instance(s)" in down.stdout, down.stderr
    wait_until(lambda: cluster.call(cluster.api.running_containers) == [], timeout=30,  # type: ignore[attr-defined]
               what="the pods' containers to stop")  # fmt: skip


@pytest.mark.kind
def test_up_on_a_real_kind_cluster(tmp_path: Path) -> None:
    """The same scenario on a real kind cluster named devloop-e2e, deleted afterwards."""
    sample = copy_sample("python-web", tmp_path)
    config = sample / "devloop.yaml"
    config.write_text(config.read_text().replace("provider: docker", "provider: kind\ncluster: devloop-e2e"))
    try:
        up_edit_interrupt(sample, "sync")
    finally:
        subprocess.run([sys.executable, "-m", "devloop", "down", "--cluster"], cwd=sample, timeout=300)


@pytest.mark.docker
def test_push_status_and_down_on_the_fake_cluster(tmp_path: Path, fake_kind: FakeKind) -> None:
    """`cf push`-style commands on the kind provider: push once, status from the cluster, down."""
    sample = copy_sample("python-web", tmp_path)
    env = {**os.environ, **fake_kind.env()}

    def devloop(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "devloop", *args, "--provider", "kind"], cwd=sample,
                              env=env, capture_output=True, text=True, timeout=300)  # fmt: skip

    pushed = devloop("push")
    assert pushed.returncode == 0, pushed.stdout + pushed.stderr
    assert re.search(r"^web: 2 instance\(s\) running in namespace devloop-", pushed.stdout, re.M), (
        pushed.stdout
    )
    status = devloop("status")
    assert status.returncode == 0 and re.search(r"^web\s+running\s+2/2\s+128M", status.stdout, re.M), (
        status.stdout
    )
    # `devloop ssh` without kubectl: exec over the API server's WebSocket, stdin closed, exit code kept.
    ssh = devloop("ssh", "web", "-i", "1", "-c", "echo hello-$((6*7)) from $HOSTNAME; exit 3")
    assert ssh.returncode == 3, ssh.stderr
    cluster = fake_kind.cluster
    pods = cluster.call(lambda: [o["metadata"]["name"] for _v, o in cluster.api.items("pods", None)])  # type: ignore[attr-defined]
    said = re.fullmatch(r"hello-42 from (\S+)\n", ssh.stdout)
    assert said is not None and said[1] in pods, (ssh.stdout, pods)  # the instance's own pod, however named
    down = devloop("down")
    assert down.returncode == 0 and "removed 2 instance(s)" in down.stdout
    assert processes_matching(str(sample)) == []


@pytest.mark.docker
@pytest.mark.fault("kind is not installed", messages=1)
def test_kind_missing_is_one_message_and_exit_5(tmp_path: Path) -> None:
    sample = copy_sample("python-web", tmp_path)
    python_dir = str(Path(sys.executable).parent)
    env = {"PATH": os.pathsep.join([python_dir, "/usr/bin", "/bin"])}  # docker but no kind
    devloop = DevloopProcess("up", "--no-tui", "--provider", "kind", cwd=sample, env=env)
    try:
        assert devloop.proc.wait(60) == 5  # no retries for a missing tool, and no hanging on
    finally:
        devloop.kill()
    devloop.wait_for(r"^error: kind is not installed or not on PATH$")
    devloop.wait_for(r"fix: install kind: https://kind\.sigs\.k8s\.io/docs/user/quick-start/#installation")
    devloop.wait_for(r"or run on plain Docker with `--provider docker`")  # the way that works here
    assert "retrying" not in devloop.output and "Traceback" not in devloop.output
