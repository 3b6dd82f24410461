"""cf process types and sidecars on the docker provider (real containers).

A worker runs from the app's image as its own instances; a sidecar joins each web
instance's network namespace; when Docker restarts a crashed instance (a new
namespace), devloop restarts its sidecars so they share it again.
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import docker
import pytest

from devloop.core.spec import AppSpec, HealthCheck, HealthCheckType, ProcessSpec, ProjectSpec, SidecarSpec
from devloop.providers.docker.provider import DockerProvider
from tests.helpers import async_poll, http_get
from tests.providers.kind.test_processes import REACH_SIDECAR, STATS, WORKER
from tests.providers.kind.test_provider import SERVER, build

pytestmark = pytest.mark.docker


def reach_sidecar(client: docker.DockerClient, main: str) -> str:
    """What the web instance gets from 127.0.0.1:9100, inside its own network namespace."""
    result = client.containers.get(main).exec_run(["python3", "-c", REACH_SIDECAR])
    return str(result.output.decode().strip()) if result.exit_code == 0 else f"failed: {result.output!r}"


async def sidecar_answers(client: docker.DockerClient, main: str) -> bool:
    return await asyncio.to_thread(reach_sidecar, client, main) == "stats ok"


async def test_a_worker_runs_apart_and_a_sidecar_follows_its_instance_through_a_restart(
    tmp_path: Path,
) -> None:
    image = build(
        'FROM python:3.12-slim\nCOPY . /\nUSER 10001\nCMD ["python3", "/server.py"]\n',
        {"server.py": SERVER, "worker.py": WORKER, "stats.py": STATS},
    )
    app = AppSpec(
        f"p{uuid.uuid4().hex[:6]}",
        tmp_path,
        image=image,
        health=HealthCheck(HealthCheckType.HTTP, "/", timeout_s=20),
        processes=(
            ProcessSpec("worker", "python3 /worker.py", 1, None, HealthCheck(HealthCheckType.PROCESS)),
        ),
        sidecars=(SidecarSpec("stats", "python3 /stats.py", ("web",)),),
    )
    provider = DockerProvider(ProjectSpec(tmp_path / "devloop.yaml", (app,)))
    client = docker.from_env()
    try:
        await provider.ensure_platform(lambda _text: None)
        deployed = await provider.deploy(app, image, lambda _text: None)
        assert deployed.url is not None and await asyncio.to_thread(http_get, deployed.url) == "hi"
        statuses = (await provider.instances(app)).instances
        assert sorted((i.label, i.state) for i in statuses) == [
            ("0", "running"), ("stats/0", "running"), ("worker/0", "running")
        ]  # fmt: skip
        web = next(i for i in statuses if i.is_web)
        assert len(provider.router.backends(app.name)) == 1  # the worker and the sidecar are not routed
        await async_poll(lambda: sidecar_answers(client, web.id), timeout=30, what="the sidecar on localhost")

        # The web process dies; Docker restarts it in a new network namespace.
        await asyncio.to_thread(
            client.containers.get(web.id).exec_run, ["python3", "-c", "import os; os.kill(1, 15)"]
        )

        async def restarted() -> bool:
            container = await asyncio.to_thread(client.containers.get, web.id)
            return bool(container.attrs["RestartCount"] >= 1 and container.status == "running")

        await async_poll(restarted, timeout=30, what="Docker restarting the web instance")
        await provider.instances(app)  # what the event stream triggers: the sidecar rejoins
        # Restarted, the sidecar takes a moment to listen again; without the rejoin it never
        # answers inside the new network namespace.
        await async_poll(lambda: sidecar_answers(client, web.id), timeout=30,
                         what="the sidecar answering in the restarted instance's network")  # fmt: skip
    finally:
        await provider.remove(None)
        await provider.close()
        client.close()
