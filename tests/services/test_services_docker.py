"""Backing services on the docker provider: real PostgreSQL and Redis, bound through VCAP_SERVICES.

`devloop up` runs samples/services-app (a web app and a worker, both bound to a
postgres `db` and a redis `queue`) as a user would. The web app counts visits in
the database and queues jobs; the worker takes them. Then: the cf-style commands,
a restart that finds the data still there, and `down --purge` that deletes it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import docker
import pytest

from devloop.core.services import CATALOG, ServiceSpec
from devloop.core.spec import AppSpec, HealthCheck, HealthCheckType, ProjectSpec
from devloop.errors import DeployError
from devloop.providers.docker import DockerProvider, project_id
from tests.conftest import FaultRecord
from tests.devloop_process import DevloopProcess
from tests.helpers import copy_sample, http_get, wait_until

pytestmark = pytest.mark.docker
URL = r"^web: (http://web\.localhost:\d+)$"


def run(folder: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "devloop", *args], cwd=folder, env={**os.environ, **env},
                          capture_output=True, text=True, timeout=120)  # fmt: skip


def volumes_of(folder: Path) -> list[str]:
    client = docker.from_env()
    try:
        label = f"devloop.project={project_id(folder / 'devloop.yaml')}"
        return sorted(v.name for v in client.volumes.list(filters={"label": label}))
    finally:
        client.close()


def test_services_are_provisioned_bound_kept_and_purged(tmp_path: Path) -> None:
    folder = copy_sample("services-app", tmp_path)
    env = {"XDG_STATE_HOME": str(tmp_path / "state")}
    devloop = DevloopProcess("up", "--no-tui", "--no-router-logs", cwd=folder, env=env)
    try:
        url = devloop.wait_for(URL, timeout=300).group(1)
        devloop.wait_for(r"^\[API\] (web|worker) \| service db is ready$")
        assert [http_get(url) for _ in range(3)] == ["visit 1\n", "visit 2\n", "visit 3\n"]
        # The worker, bound to the same queue, took every job the web app queued.
        wait_until(lambda: http_get(f"{url}/done") == "done 3\n", timeout=30, what="the worker's jobs")
        devloop.wait_for(r"^\[APP/0\] worker \| worker: visit 3 done")

        listing = run(folder, env, "services").stdout.splitlines()
        assert listing[0].split() == ["name", "type", "plan", "state", "bound", "apps"]
        assert listing[1].split() == ["db", "postgres", "local", "running", "web,", "worker"]
        assert listing[2].split() == ["queue", "redis", "local", "running", "web,", "worker"]

        password = json.loads((tmp_path / "state" / "devloop" / project_id(folder / "devloop.yaml")
                               / "services.json").read_text())["db"]  # fmt: skip
        key = json.loads(run(folder, env, "service-key", "db").stdout)
        assert key == {"uri": "postgres://postgres:*****@db:5432/app", "hostname": "db", "port": 5432,
                       "username": "postgres", "password": "*****", "name": "app"}  # fmt: skip
        shown = json.loads(run(folder, env, "service-key", "db", "--show-secrets").stdout)
        assert shown["password"] == password and password in shown["uri"]
        counted = run(folder, env, "psql", "db", "-tA", "-c", "select count(*) from visits")
        assert counted.stdout.strip() == "3", counted.stderr
        assert run(folder, env, "redis-cli", "queue", "get", "done").stdout.strip() == "3"
        assert devloop.interrupt() == 130
    finally:
        devloop.kill()
    assert password not in devloop.output  # never in devloop's output or the apps' logs

    # `down` removes the apps and the service containers; the data stays for the next `up`.
    assert run(folder, env, "down").returncode == 0
    assert volumes_of(folder) != []
    again = DevloopProcess("up", "--no-tui", "--no-router-logs", cwd=folder, env=env)
    try:
        url = again.wait_for(URL, timeout=300).group(1)
        assert http_get(url) == "visit 4\n"  # the database kept the three visits
        assert again.interrupt() == 130
    finally:
        again.kill()

    # `down --purge` deletes the data and the saved passwords too.
    purge = run(folder, env, "down", "--purge")
    assert purge.returncode == 0, purge.stderr
    assert volumes_of(folder) == []
    assert not (
        tmp_path / "state" / "devloop" / project_id(folder / "devloop.yaml") / "services.json"
    ).exists()
    assert "not started" in run(folder, env, "services").stdout


@pytest.mark.fault("a service never becomes ready (its bound app is held back)")
async def test_a_service_that_never_gets_ready_holds_its_apps_back_with_its_last_lines(
    tmp_path: Path, fault: FaultRecord, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    # Redis is no PostgreSQL: it runs and logs, but pg_isready is not there to say it is ready.
    db = ServiceSpec("db", CATALOG["postgres"], ready_timeout_s=3, image_override="redis:7")
    app = AppSpec(f"held{uuid.uuid4().hex[:5]}", tmp_path, image="busybox:1.36", services=("db",),
                  health=HealthCheck(HealthCheckType.PROCESS))  # fmt: skip
    provider = DockerProvider(ProjectSpec(tmp_path / "devloop.yaml", (app,), services=(db,)))
    try:
        with pytest.raises(DeployError) as info:
            await provider.deploy(app, "busybox:1.36", lambda _t: None)
        fault.message(str(info.value), "service db (postgres) was not ready within 3s")
        fault.message(str(info.value), "the apps bound to it are held back")
        assert any("Ready to accept connections" in line for line in info.value.lines)  # its last lines
        assert (await provider.instances(app)).instances == ()  # the app was never started
    finally:
        await provider.remove(None, purge=True)
        await provider.close()
