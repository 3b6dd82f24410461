from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from tests.fakes.kubeapi import FakeCluster

# PYTHONDONTWRITEBYTECODE (set on some machines to keep folders clean) makes every test process and
# every `python -m devloop` a test starts compile devloop and its dependencies from source again:
# about half of a short CLI run. Compiled files go to a cache outside the tree instead; the xdist
# workers and the subprocesses inherit it.
if os.environ.pop("PYTHONDONTWRITEBYTECODE", None):
    os.environ.setdefault("PYTHONPYCACHEPREFIX", os.path.join(tempfile.gettempdir(), "devloop-pycache"))
    sys.pycache_prefix = os.environ["PYTHONPYCACHEPREFIX"]
    sys.dont_write_bytecode = False


# The suite's projects share one Docker engine and app names (`web`): a prune after one test's deploy
# must not remove another's images. Tests of the automatic prune turn it on for themselves.
os.environ.setdefault("DEVLOOP_AUTO_PRUNE", "0")


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
        if item.get_closest_marker("docker") and not DOCKER_UP:
            item.add_marker(skip_docker)
        if item.get_closest_marker("kind") and not have_kind:
            item.add_marker(skip_kind)


LOCKS = Path(tempfile.gettempdir()) / "devloop-tests"


@pytest.fixture(autouse=True)
def _engine_turn(request: pytest.FixtureRequest) -> Iterator[None]:
    """Docker tests share the engine across the test processes; one marked `exclusive` (it removes
    images the others use) runs alone. A gate lock taken before the shared one lets an exclusive
    test in without waiting for a moment when no other test runs."""
    if request.node.get_closest_marker("docker") is None:
        yield
        return
    LOCKS.mkdir(exist_ok=True)
    exclusive = request.node.get_closest_marker("exclusive") is not None
    with open(LOCKS / "gate", "a") as gate, open(LOCKS / "engine", "a") as engine:
        fcntl.flock(gate, fcntl.LOCK_EX)
        fcntl.flock(engine, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        if not exclusive:
            fcntl.flock(gate, fcntl.LOCK_UN)
        yield


@pytest.fixture
def app_dir(tmp_path: Path) -> Iterator[Path]:
    """A folder holding a minimal Python app (requirements.txt + app.py)."""
    (tmp_path / "requirements.txt").write_text("")
    (tmp_path / "app.py").write_text("print('hi')\n")
    yield tmp_path


FAKE_BIN = Path(__file__).resolve().parent / "fakes" / "bin"


class FakeKind:
    """The fake `kind` on PATH and the fake API server it hands out kubeconfigs for."""

    def __init__(self, state: Path, cluster: FakeCluster) -> None:
        self.state = state
        self.cluster = cluster

    def calls(self) -> list[list[str]]:
        path = self.state / "calls"
        import json

        return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []

    def env(self) -> dict[str, str]:
        import os

        return {
            "PATH": f"{FAKE_BIN}{os.pathsep}{os.environ['PATH']}",
            "FAKE_KIND_STATE": str(self.state),
            "XDG_CACHE_HOME": str(self.state / "cache"),
            "FAKE_KIND_OWNER": str(os.getpid()),  # the fake's port holders end with the tests
        }


@pytest.fixture
def fake_cluster(tmp_path: Path) -> Iterator[FakeCluster]:
    """A fake Kubernetes API server on loopback whose pods are real containers (tests/fakes/kubeapi.py)."""
    from tests.fakes.kubeapi import FakeCluster

    folder = tmp_path / "fake-cluster"
    folder.mkdir()
    cluster = FakeCluster(folder).start()
    yield cluster
    cluster.stop()


@pytest.fixture
def fake_kind(tmp_path: Path, fake_cluster: FakeCluster, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeKind]:
    """The fake `kind` on PATH. Fake clusters of several test processes run side by side: each binds
    its host ports for real, as kind's node container does, and when two race for the same free
    port the loser fails as kind does and devloop tries again with others (as two users' would)."""
    state = tmp_path / "fake-kind"
    state.mkdir()
    (state / "kubeconfig").write_text(fake_cluster.kubeconfig_text())
    kind = FakeKind(state, fake_cluster)
    for name, value in kind.env().items():
        monkeypatch.setenv(name, value)
    # Clusters made in this process prefer ports of this worker's own: the race for a free port
    # (which devloop survives by trying again) then never makes a test count two `kind create`s.
    from devloop.providers.kind import cluster_config

    worker = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or 0)
    monkeypatch.setattr(cluster_config, "HTTP_HOST_PORT", cluster_config.HTTP_HOST_PORT + 20 * (worker + 1))
    monkeypatch.setattr(cluster_config, "HTTPS_HOST_PORT", cluster_config.HTTPS_HOST_PORT + 20 * (worker + 1))
    yield kind


@pytest.fixture(scope="session", autouse=True)
def no_leftover_networks() -> Iterator[None]:
    """Networks the tests' projects made and left empty go at the end (a dev machine's own stay)."""
    if not DOCKER_UP:
        yield
        return
    import docker

    client = docker.from_env()
    before = {n["Id"] for n in client.api.networks(filters={"label": "devloop.project"})}
    yield
    for network in client.api.networks(filters={"label": "devloop.project"}):
        project = (network.get("Labels") or {}).get("devloop.project", "")
        # Another test process may still run this project with every container down (a crash
        # loop): Docker removes a network its stopped containers are on, and they never start again.
        if network["Id"] in before or client.api.containers(all=True, filters={"label": f"devloop.project={project}"}):
            continue
        with contextlib.suppress(docker.errors.APIError):
            client.api.remove_network(network["Id"])
    client.close()


# --- the fault report --------------------------------------------------------------------------------


class FaultRecord:
    """What a fault-injection test checked: the user-facing messages, and log lines lost."""

    def __init__(self, name: str, messages: int) -> None:
        self.name = name
        self.messages = messages
        self.lost: int | None = None

    def message(self, text: str, expected: str) -> None:
        """Assert one message the user sees, and count it."""
        assert expected in text, f"expected {expected!r} in {text!r}"
        assert "Traceback" not in text, text
        self.messages += 1

    def lines_lost(self, count: int) -> None:
        self.lost = count

    def count_lines(self, seen: list[int]) -> None:
        """Add what a numbered stream lost or doubled: `seen` should be 0, 1, 2, ... once each."""
        expected = max(seen) + 1 if seen else 0
        self.lost = (self.lost or 0) + (expected - len(set(seen))) + (len(seen) - len(set(seen)))


FAULT_ROWS: list[dict[str, object]] = []


@pytest.fixture
def fault(request: pytest.FixtureRequest) -> FaultRecord:
    marker = request.node.get_closest_marker("fault")
    record = FaultRecord(
        marker.args[0] if marker and marker.args else request.node.name,
        int(marker.kwargs.get("messages", 0)) if marker else 0,
    )
    request.node.fault_record = record
    return record


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    outcome = yield
    report = outcome.get_result()
    marker = item.get_closest_marker("fault")
    if marker is None or report.when != "call":
        return
    record = getattr(item, "fault_record", None) or FaultRecord(
        marker.args[0] if marker.args else item.name, int(marker.kwargs.get("messages", 0))
    )
    FAULT_ROWS.append(
        {
            "fault": record.name,
            "test": item.nodeid,
            "survived": report.passed,
            "messages_checked": record.messages,
            "lines_lost": record.lost,
        }
    )


def pytest_sessionfinish(session: pytest.Session) -> None:
    path = os.environ.get("DEVLOOP_FAULT_REPORT")
    if path:
        with open(path, "w", encoding="utf-8") as out:
            json.dump(FAULT_ROWS, out, indent=2)
