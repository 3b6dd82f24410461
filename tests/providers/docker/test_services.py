"""Backing services on the docker provider: real PostgreSQL and Redis, bound through VCAP_SERVICES.

`devloop up` runs samples/services-app (one app bound to a postgres `db` and a
redis `queue`, run as two process types from one image, with a sidecar beside each
web instance) as a user would. The web process counts visits in the database and
queues jobs; the worker process takes them. Then: the cf-style commands, a restart
that finds the data still there, and `down --purge` that deletes it.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from devloop.core.services import CATALOG, ServiceSpec
from devloop.core.spec import AppSpec, HealthCheck, HealthCheckType, ProjectSpec
from devloop.errors import DeployError
from devloop.providers.docker.provider import DockerProvider
from devloop.providers.shared import project_id
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


def published_ports(folder: Path, process: str) -> list[str]:
    client = docker.from_env()
    try:
        label = [f"devloop.project={project_id(folder / 'devloop.yaml')}", f"devloop.process={process}"]
        return [
            p
            for c in client.api.containers(filters={"label": label})
            for p in c["Ports"]
            if "PublicPort" in p
        ]
    finally:
        client.close()


@pytest.fixture
def services_app(tmp_path: Path) -> Iterator[Path]:
    """A copy of samples/services-app; whatever a failing test left (apps, services, data) goes after it."""
    folder = copy_sample("services-app", tmp_path)
    yield folder
    run(folder, {"XDG_STATE_HOME": str(tmp_path / "state")}, "down", "--purge")


def test_services_are_provisioned_bound_kept_and_purged(services_app: Path, tmp_path: Path) -> None:
    folder = services_app
    env = {"XDG_STATE_HOME": str(tmp_path / "state")}
    devloop = DevloopProcess("up", "--no-tui", "--no-router-logs", cwd=folder, env=env)
    try:
        url = devloop.wait_for(URL, timeout=300).group(1)
        devloop.wait_for(r"^\[API\] web \| service db is ready$")
        assert [http_get(url) for _ in range(3)] == ["visit 1\n", "visit 2\n", "visit 3\n"]
        # The worker process (the Procfile's command, same image and bindings) took every job.
        wait_until(lambda: http_get(f"{url}/done") == "done 3\n", timeout=30, what="the worker's jobs")
        devloop.wait_for(r"^\[APP/worker/0\] web \| worker: visit 3 done")
        # The sidecar shares the web instance's network: web reaches it on 127.0.0.1.
        assert http_get(f"{url}/stats") == "stats sidecar of web instance 0\n"
        devloop.wait_for(r"^\[APP/stats/0\] web \| stats: GET /$")

        apps = run(folder, env, "status").stdout.splitlines()
        assert apps[1].split()[:3] == ["web", "running", "1/1"]
        assert apps[2].split() == ["worker", "running", "1/1", "96M"]
        # `cf scale --process worker -i 2`: a second worker, web untouched.
        scaled = run(folder, env, "scale", "web", "--process", "worker", "-i", "2")
        assert scaled.returncode == 0, scaled.stderr
        wait_until(lambda: run(folder, env, "status").stdout.splitlines()[2].split()[:3] == ["worker", "running", "2/2"],
                   timeout=60, what="two workers")  # fmt: skip
        assert (
            "no process type 'wroker'"
            in run(folder, env, "scale", "web", "--process", "wroker", "-i", "2").stderr
        )
        vcap = run(
            folder, env, "ssh", "web", "--process", "worker", "-i", "1", "-c", "echo $VCAP_APPLICATION"
        ).stdout
        seen = json.loads(vcap)
        assert {k: seen[k] for k in ("application_name", "instance_index", "process_type", "uris")} == {
            "application_name": "web", "instance_index": 1, "process_type": "worker", "uris": [],
        }  # fmt: skip
        assert published_ports(folder, "worker") == []  # only web is routed; the worker has no port
        assert len(published_ports(folder, "web")) == 1

        listing = run(folder, env, "services").stdout.splitlines()
        assert listing[0].split() == ["name", "type", "plan", "state", "bound", "apps"]
        assert listing[1].split() == ["db", "postgres", "local", "running", "web"]
        assert listing[2].split() == ["queue", "redis", "local", "running", "web"]

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


async def test_mysql_takes_the_credentials_a_bound_app_gets_and_keeps_its_data(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    db = ServiceSpec("shop-mysql", CATALOG["mysql"], ready_timeout_s=120)
    app = AppSpec("shop", tmp_path, image="mariadb:11", services=("shop-mysql",))
    provider = DockerProvider(ProjectSpec(tmp_path / "devloop.yaml", (app,), services=(db,)))
    client = docker.from_env()

    def sql(statement: str) -> str:
        """A client in another container on the project network, with what VCAP_SERVICES says."""
        c = credentials
        argv = ["mariadb", "-h", c.hostname, "-P", str(c.port), "-u", c.username, f"-p{c.password}",
                c.name, "-N", "-e", statement]  # fmt: skip
        output = client.containers.run("mariadb:11", entrypoint=argv, network=provider.network, remove=True)
        return bytes(output).decode().strip()

    try:
        await provider.ensure_platform(lambda _text: None)
        credentials = await provider.services.ensure(db, lambda _text: None)
        assert (credentials.hostname, credentials.port, credentials.username) == ("shop-mysql", 3306, "app")
        await asyncio.to_thread(sql, "CREATE TABLE orders (id INT); INSERT INTO orders VALUES (1), (2)")
        await asyncio.to_thread(provider.services.remove, False)  # `devloop down`: the data stays
        credentials = await provider.services.ensure(db, lambda _text: None)
        assert await asyncio.to_thread(sql, "SELECT count(*) FROM orders") == "2"
    finally:
        await provider.remove(None, purge=True)
        await provider.close()
        client.close()
