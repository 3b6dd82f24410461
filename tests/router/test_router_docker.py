"""The router in front of real containers on the docker provider (and the engine, for its state).

Two instances of a stdlib server built here; requests go through the router as a
browser sends them (Host: APP.localhost:PORT) from threads, while the provider
redeploys, instances crash, responses stream and WebSockets echo.
"""

from __future__ import annotations

import asyncio
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from pathlib import Path

import aiohttp
import pytest

from devloop.adapters import dockercli, dockersdk
from devloop.build.builder import ImageBuilder
from devloop.core.spec import AppSpec, HealthCheck, HealthCheckType, ProjectSpec
from devloop.engine.loop import Engine
from devloop.providers.docker.provider import DockerProvider
from devloop.router.rotation import RETRY_FOR_S
from tests.helpers import async_poll, async_wait_until, http_request
from tests.load import Load

pytestmark = pytest.mark.docker
APP_DIR = Path(__file__).resolve().parents[1] / "data" / "router-app"


@pytest.fixture(scope="module")
def image() -> Iterator[str]:
    tag = f"devloop-test/router-app:{uuid.uuid4().hex[:8]}"
    docker = dockercli.detect().path
    subprocess.run([docker, "build", "-q", "-t", tag, str(APP_DIR)], check=True, capture_output=True)
    yield tag
    subprocess.run([docker, "rmi", "-f", tag], check=False, capture_output=True)


def spec(name: str, image: str, **fields: object) -> AppSpec:
    fields = {"instances": 2, **fields}
    health = HealthCheck(HealthCheckType.HTTP, "/", timeout_s=20)
    return AppSpec(name, APP_DIR, image=image, health=health, **fields)  # type: ignore[arg-type]


@pytest.fixture
async def provider(tmp_path: Path) -> AsyncIterator[DockerProvider]:
    provider = DockerProvider(ProjectSpec(tmp_path / "devloop.yaml", (), router_port=18080))
    yield provider
    await provider.remove(None)
    await provider.close()


def route_of(url: str) -> tuple[int, str]:
    """(port, Host header) of http://APP.localhost:PORT."""
    host = url.removeprefix("http://").rstrip("/")
    return int(host.rsplit(":", 1)[1]), host


@pytest.mark.fault("containers replaced by redeploys under load")
async def test_redeploys_under_load_fail_no_request_and_every_instance_serves(
    provider: DockerProvider, image: str
) -> None:
    app = spec(f"r{uuid.uuid4().hex[:6]}", image, env=(("GREETING", "v0"),))
    deployed = await provider.deploy(app, image, lambda _t: None)
    assert deployed.url == f"http://{app.name}.localhost:{provider.router.port}"
    port, host = route_of(deployed.url)
    async with Load(port, host) as load:
        for version in (1, 2, 3):
            wanted = 50 * version
            await async_wait_until(lambda: load.total() > wanted, what="requests under way")  # noqa: B023
            await provider.deploy(replace(app, env=(("GREETING", f"v{version}"),)), image, lambda _t: None)
        before = load.total()
        await async_wait_until(lambda: load.total() > before + 50, what="requests on the last version")
    result = load.result
    assert result.failed == 0, result.failures
    assert {"v3 0", "v3 1"} <= set(result.bodies)  # both instances of the new version served
    assert {"v0 0", "v0 1"} <= set(result.bodies)


async def test_streaming_and_websocket_pass_through_to_a_container(
    provider: DockerProvider, image: str
) -> None:
    app = spec(f"s{uuid.uuid4().hex[:6]}", image, instances=1)
    deployed = await provider.deploy(app, image, lambda _t: None)
    assert deployed.url is not None
    port, host = route_of(deployed.url)
    async with aiohttp.ClientSession() as session:
        # The stream never ends: lines can only arrive if the router passes them on as they come.
        async with session.get(f"http://127.0.0.1:{port}/stream", headers={"Host": host}) as response:
            assert response.status == 200
            for tick in range(3):
                assert await response.content.readline() == f"tick {tick}\n".encode()
        async with session.ws_connect(f"http://127.0.0.1:{port}/ws", headers={"Host": host}) as ws:
            for text in ("hello", "y" * 70_000):
                await ws.send_str(text)
                assert await ws.receive_str() == f"echo {text}"


@pytest.mark.fault("instances crash one after the other (crash loop)", messages=3)
async def test_crashed_instances_leave_rotation_and_the_last_one_gives_a_503_naming_it(
    tmp_path: Path, image: str
) -> None:
    name = f"c{uuid.uuid4().hex[:6]}"
    project = ProjectSpec(tmp_path / "devloop.yaml", (spec(name, image),), router_port=18080)
    provider = DockerProvider(project)
    engine = Engine(project, provider, ImageBuilder(dockercli.detect(), dockersdk.open_engine()), watch=False)
    runner = asyncio.create_task(engine.run())
    try:
        state = await async_wait_until(
            lambda: (
                engine.state.apps[name].url
                and engine.state.apps[name].running == 2
                and engine.state.apps[name]
            ),
            timeout=60,
            what="two running instances",
        )
        assert state.url is not None
        url = state.url

        # Not retried elsewhere (a POST may have had effects): the client gets a 502 saying so.
        status, body = await asyncio.to_thread(http_request, url + "/crash", "POST")
        assert status == 502 and b"closed the connection without an answer" in body
        await async_wait_until(lambda: len(provider.router.backends(name)) == 1, what="one instance left")
        answers = [await asyncio.to_thread(http_request, url) for _ in range(10)]
        assert {status for status, _body in answers} == {200}  # the survivor takes every request
        await asyncio.to_thread(http_request, url + "/crash", "POST")

        async def crashed_page() -> bool:
            # The router may hold a request for a restarting instance, never past its own limit.
            status, body = await asyncio.to_thread(http_request, url, timeout=3 * RETRY_FOR_S)
            return status == 503 and f"{name} has no healthy instance: crashed".encode() in body

        await async_poll(crashed_page, timeout=30, what="a 503 page naming the crash")
        status, body = await asyncio.to_thread(http_request, url, timeout=3 * RETRY_FOR_S)
        assert b"exited with code 3" in body
        router_lines = [line.text for line in engine.logs.lines(name) if line.source == "RTR"]
        assert any('"GET / HTTP/1.1" 200' in text and "instance" in text for text in router_lines)
        assert any('"GET / HTTP/1.1" 503' in text for text in router_lines)
        assert any('"POST /crash HTTP/1.1" 502' in text for text in router_lines)
    finally:
        engine.stop()
        await runner
        await provider.remove(None)
        await provider.close()
