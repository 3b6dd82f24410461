"""The docker provider against the real engine: deploys, faults, logs, sync."""

from __future__ import annotations

import asyncio
import socket
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import docker
import pytest

from devloop.adapters import dockercli
from devloop.adapters.dockersdk import SdkDockerEngine
from devloop.build.builder import ImageBuilder
from devloop.core.changes import SyncCopy
from devloop.core.events import InstanceStatus
from devloop.core.spec import AppSpec, HealthCheck, HealthCheckType, ProjectSpec, SyncRestart
from devloop.providers.base import DeployError
from devloop.providers.docker.provider import DockerProvider
from tests.helpers import async_wait_until, http_get

pytestmark = pytest.mark.docker

SERVER = """
import os, sys
from http.server import BaseHTTPRequestHandler, HTTPServer
MESSAGE = open("/app/message.txt").read().strip() if os.path.exists("/app/message.txt") else "v1"
class H(BaseHTTPRequestHandler):
    def do_GET(self):
        body = (MESSAGE + " " + os.environ.get("CF_INSTANCE_INDEX", "?")).encode()
        self.send_response(200 if self.path != "/nope" else 404)
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        print("served", flush=True)
print("line one", flush=True)
print("line two", flush=True)
HTTPServer(("0.0.0.0", int(os.environ["PORT"])), H).serve_forever()
"""


@pytest.fixture
async def built(tmp_path: Path) -> AsyncIterator[tuple[DockerProvider, AppSpec, str]]:
    (tmp_path / "Dockerfile").write_text(
        "FROM python:3.12-slim\nRUN mkdir /app && chown 10001 /app\nCOPY server.py /server.py\n"
        'USER 10001\nCMD ["python3", "/server.py"]\n'
    )
    (tmp_path / "server.py").write_text(SERVER)
    from devloop.core.spec import BuildSpec

    app = AppSpec(
        f"p{uuid.uuid4().hex[:6]}", tmp_path, BuildSpec(tmp_path, tmp_path / "Dockerfile"),
        instances=2, port=8080, health=HealthCheck(HealthCheckType.HTTP, "/", timeout_s=20),
    )  # fmt: skip
    project = ProjectSpec(tmp_path / "devloop.yaml", (app,))
    engine = docker.from_env()
    image = (await ImageBuilder(dockercli.detect(), SdkDockerEngine(engine)).build(app)).image
    provider = DockerProvider(project)
    yield provider, app, image
    await provider.remove(None)
    await provider.close()
    engine.close()


def progress(_text: str) -> None:
    pass


async def get(url: str) -> str | None:
    return await asyncio.to_thread(http_get, url)


async def test_deploy_spreads_requests_over_the_instances(built) -> None:  # type: ignore[no-untyped-def]
    provider, app, image = built
    deployed = await provider.deploy(app, image, progress)
    assert deployed.url is not None and deployed.url.startswith(f"http://{app.name}.localhost:")
    answers = {await get(deployed.url) for _ in range(6)}
    assert answers == {"v1 0", "v1 1"}
    client = docker.from_env()
    for container in client.containers.list(filters={"label": f"devloop.app={app.name}"}):
        for bindings in container.attrs["NetworkSettings"]["Ports"].values():
            assert all(b["HostIp"] == "127.0.0.1" for b in bindings)  # published on loopback only
    client.close()


@pytest.mark.fault("the router's port is taken", messages=1)
async def test_router_port_taken_picks_another_and_says_so(built) -> None:  # type: ignore[no-untyped-def]
    provider, app, image = built
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        taken = blocker.getsockname()[1]
        provider = DockerProvider(replace(provider.project, router_port=taken))
        try:
            deployed = await provider.deploy(app, image, progress)
            assert deployed.url is not None
            moved_to = int(deployed.url.rsplit(":", 1)[1])
            assert moved_to != taken
            assert deployed.notice == f"port {taken} on 127.0.0.1 is in use; the router is on {moved_to}"
            assert (await get(deployed.url) or "").startswith("v1")
        finally:
            await provider.close()


@pytest.mark.fault("a new version exits at once (old one keeps serving)", messages=2)
async def test_image_that_exits_at_once_reports_code_and_lines_and_keeps_the_old(built) -> None:  # type: ignore[no-untyped-def]
    provider, app, image = built
    first = await provider.deploy(app, image, progress)
    broken = replace(app, command="echo about to crash; exit 3")
    with pytest.raises(DeployError) as info:
        await provider.deploy(broken, image, progress)
    assert f"{app.name}/" in str(info.value) and "exited with code 3" in str(info.value)
    assert "about to crash" in info.value.lines
    assert first.url is not None and (await get(first.url) or "").startswith("v1")


@pytest.mark.fault("a health check never passes (old one keeps serving)", messages=1)
async def test_health_check_that_never_passes_names_the_check_and_keeps_the_old(built) -> None:  # type: ignore[no-untyped-def]
    provider, app, image = built
    first = await provider.deploy(app, image, progress)
    unhealthy = replace(app, health=HealthCheck(HealthCheckType.HTTP, "/nope", timeout_s=2))
    with pytest.raises(DeployError, match=r"http check GET /nope on port 8080 did not pass within 2s"):
        await provider.deploy(unhealthy, image, progress)
    assert first.url is not None and (await get(first.url) or "").startswith("v1")


@pytest.mark.fault("an instance is OOM-killed (memory limit)", messages=1)
async def test_memory_limit_oom_is_reported(built) -> None:  # type: ignore[no-untyped-def]
    provider, app, image = built
    hog = replace(app, memory_mb=20, command='python3 -c "x = bytearray(200 * 1024 * 1024)"', instances=1)
    with pytest.raises(DeployError, match=r"(killed for using more than 20M of memory|exited with code 137)"):
        await provider.deploy(hog, image, progress)


async def test_sync_copies_files_and_runs_the_restart_step(built) -> None:  # type: ignore[no-untyped-def]
    provider, app, image = built
    app = replace(app, sync_restart=SyncRestart(command="echo restarted > /app/restarted.txt"))
    await provider.deploy(app, image, progress)
    (app.source / "message.txt").write_text("synced\n")
    count = await provider.sync(app, (SyncCopy("message.txt", "/app/message.txt"),))
    assert count == 2
    client = docker.from_env()
    for container in client.containers.list(filters={"label": f"devloop.app={app.name}"}):
        out = container.exec_run(["cat", "/app/message.txt", "/app/restarted.txt"]).output.decode()
        assert out == "synced\nrestarted\n"
        assert container.exec_run(["stat", "-c", "%u", "/app/message.txt"]).output.decode().strip() == "10001"
    client.close()


async def test_tail_resumes_after_the_last_line_without_duplicates(built) -> None:  # type: ignore[no-untyped-def]
    provider, app, image = built
    await provider.deploy(replace(app, instances=1), image, progress)
    snapshot = await provider.instances(replace(app, instances=1))
    instance: InstanceStatus = snapshot.instances[0]
    lines = []
    async for line in provider.tail(instance, None):
        lines.append(line)
        if line.text == "line two":
            break
    assert [line.text for line in lines[:2]] == ["line one", "line two"]
    resumed = []

    async def collect() -> None:
        async for line in provider.tail(instance, lines[0].timestamp_ns):
            resumed.append(line.text)

    task = asyncio.create_task(collect())
    await async_wait_until(lambda: "line two" in resumed, what="the resumed tail")
    task.cancel()
    assert resumed[0] == "line two" and "line one" not in resumed


async def test_an_internal_route_reaches_the_app_from_another_container_only(built) -> None:  # type: ignore[no-untyped-def]
    provider, app, image = built
    app = replace(app, instances=1, internal_routes=(f"{app.name}.apps.internal",))
    deployed = await provider.deploy(app, image, progress)
    client = docker.from_env()
    url = f"http://{app.name}.apps.internal:{app.port}/"
    # Another container of the project (a second app, say) reaches it by the cf internal name.
    other = client.containers.run("busybox:1.36", ["busybox", "wget", "-qO-", url],
                                  network=provider.network, detach=True)  # fmt: skip
    try:
        result = await asyncio.to_thread(other.wait, timeout=60)
        answer = other.logs().decode()
    finally:
        other.remove(force=True)
        client.close()
    assert (result["StatusCode"], answer) == (0, "v1 0")
    assert deployed.url is not None and "apps.internal" not in deployed.url  # no public route for it
