"""The platform misbehaves: API 500s and 409s on apply, a watch cut mid-event, health checks that flap.

Against the fake API server (real HTTP; pods are real containers) with faults
injected per request. Each case: devloop rides out what is transient, says what
is not in one message, and the previous version keeps serving through the router.
"""

from __future__ import annotations

import asyncio
import subprocess
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from devloop.core.events import InstancesChanged
from devloop.errors import ProviderError
from devloop.providers.kind.provider import KindProvider
from tests.conftest import FakeKind, FaultRecord
from tests.helpers import async_wait_until, http_get
from tests.load import Load
from tests.providers.kind.test_provider import build, web_app, web_image  # noqa: F401 (a fixture)

pytestmark = pytest.mark.docker


@pytest.fixture
async def deployed(
    tmp_path: Path,
    fake_kind: FakeKind,
    web_image: str,  # noqa: F811
) -> AsyncIterator[tuple[KindProvider, str, str]]:
    """A provider with v0 of the app serving; (provider, image, url)."""
    from devloop.core.spec import ProjectSpec

    provider = KindProvider(ProjectSpec(tmp_path / "devloop.yaml", (web_app(tmp_path),)))
    await provider.ensure_platform(lambda _text: None)
    app = web_app(tmp_path, env=(("GREETING", "v0"),))
    image = await provider.deliver(app, web_image, lambda _text: None)
    result = await provider.deploy(app, image, lambda _text: None)
    assert result.url is not None
    yield provider, image, result.url
    await provider.close()


def api(fake_kind: FakeKind):  # type: ignore[no-untyped-def]
    return fake_kind.cluster.api  # type: ignore[attr-defined]


@pytest.mark.fault("API server answers 500 twice on apply")
@pytest.mark.parametrize("status", [500, 409, 503])
async def test_transient_answers_on_apply_are_retried(
    deployed: tuple[KindProvider, str, str],
    fake_kind: FakeKind,
    tmp_path: Path,
    status: int,
    fault: FaultRecord,
) -> None:
    fault.name = f"API server answers {status} twice on apply"
    provider, image, url = deployed
    injected = api(fake_kind).inject("PATCH", r"/deployments/web$", "status", status, times=2)
    await provider.deploy(web_app(tmp_path, env=(("GREETING", "v1"),)), image, lambda _text: None)
    assert injected.hits == 2  # both failures were seen, and the third try went through
    assert await asyncio.to_thread(http_get, url) == "v1"


@pytest.mark.fault("API server answers 500 to every apply")
async def test_a_persistent_500_is_one_message_and_the_old_version_serves(
    deployed: tuple[KindProvider, str, str], fake_kind: FakeKind, tmp_path: Path, fault: FaultRecord
) -> None:
    provider, image, url = deployed
    api(fake_kind).inject("PATCH", r"/deployments/web$", "status", 500, times=1000)
    with pytest.raises(ProviderError) as info:
        await provider.deploy(web_app(tmp_path, env=(("GREETING", "v1"),)), image, lambda _text: None)
    fault.message(str(info.value), "apply Deployment/web: the API server answered 500: injected fault: 500")
    assert await asyncio.to_thread(http_get, url) == "v0"  # the previous version keeps serving


@pytest.mark.fault("pod watch cut mid-event")
async def test_a_watch_cut_mid_event_ends_and_a_new_watch_misses_nothing(
    deployed: tuple[KindProvider, str, str], fake_kind: FakeKind, tmp_path: Path, fault: FaultRecord
) -> None:
    provider, image, _url = deployed
    app = web_app(tmp_path, env=(("GREETING", "v0"),))
    api(fake_kind).inject("WATCH", r"/pods$", "cut")
    seen: list[InstancesChanged] = []

    async def watch_once() -> None:
        async for change in provider.watch_instances([app]):
            seen.append(change)

    # The engine reports this one line ("...; watching again in 0.5s") and watches again.
    with pytest.raises(ProviderError) as info:
        await asyncio.wait_for(watch_once(), 20)
    fault.message(str(info.value), "the watch on pods at https://127.0.0.1:")
    fault.message(str(info.value), "broke: peer closed connection")
    assert seen and len(seen[0].instances) == 2  # the listing before the watch was complete
    # Scale to 3 while nobody watches; the next watch (as the engine's loop starts it) sees it.
    await provider.deploy(web_app(tmp_path, env=(("GREETING", "v0"),), instances=3), image, lambda _t: None)
    seen.clear()
    watcher = asyncio.create_task(watch_once())
    try:
        await async_wait_until(
            lambda: seen and sum(1 for i in seen[-1].instances if i.state == "running") == 3,
            what="three running pods in a fresh watch",
        )
    finally:
        watcher.cancel()
        await asyncio.gather(watcher, return_exceptions=True)


FLAPPING = (
    "import os\nfrom http.server import BaseHTTPRequestHandler, ThreadingHTTPServer\n"
    "class H(BaseHTTPRequestHandler):\n"
    "    def do_GET(self):\n"
    "        sick = self.path == '/health' and os.path.exists('/tmp/unready')\n"
    "        self.send_response(503 if sick else 200); self.end_headers()\n"
    "        self.wfile.write(b'ok')\n"
    "    def log_message(self, *a): pass\n"
    "ThreadingHTTPServer(('0.0.0.0', int(os.environ['PORT'])), H).serve_forever()\n"
)


@pytest.mark.fault("a readiness check flaps (twice) under load")
async def test_a_flapping_readiness_check_takes_the_pod_out_and_back_without_a_failed_request(
    tmp_path: Path, fake_kind: FakeKind, fault: FaultRecord
) -> None:
    from devloop.core.spec import HealthCheck, HealthCheckType, ProjectSpec

    image = build(
        'FROM python:3.12-slim\nCOPY s.py /s.py\nUSER 10001\nCMD ["python3", "/s.py"]\n', {"s.py": FLAPPING}
    )
    app = web_app(tmp_path, health=HealthCheck(HealthCheckType.HTTP, "/health", timeout_s=20))
    provider = KindProvider(ProjectSpec(tmp_path / "devloop.yaml", (app,)))
    watcher: asyncio.Task[None] | None = None
    try:
        await provider.ensure_platform(lambda _text: None)
        deployed = await provider.deploy(
            app, await provider.deliver(app, image, lambda _t: None), lambda _t: None
        )
        assert deployed.url is not None

        async def follow() -> None:
            async for _change in provider.watch_instances([app]):
                pass

        watcher = asyncio.create_task(follow())
        pod = next(iter(provider.forwards["web"]))
        container = "web"
        async with Load(provider.router.port or 0, deployed.url.removeprefix("http://")) as load:
            for _flap in range(2):
                await provider.kube.exec(provider.namespace, pod, container, ["touch", "/tmp/unready"])
                await async_wait_until(
                    lambda: len(provider.router.backends("web")) == 1, what="out of rotation"
                )
                await provider.kube.exec(provider.namespace, pod, container, ["rm", "/tmp/unready"])
                await async_wait_until(
                    lambda: len(provider.router.backends("web")) == 2, what="back in rotation"
                )
        assert load.result.failed == 0, load.result.failures
        assert load.total() > 0
    finally:
        if watcher is not None:
            watcher.cancel()
            await asyncio.gather(watcher, return_exceptions=True)
        await provider.close()
        subprocess.run(["docker", "rmi", "-f", image], capture_output=True, check=False)


@pytest.mark.fault("a health check flaps (twice) under load, docker provider")
async def test_a_flapping_health_check_on_docker_takes_the_instance_out_and_back(
    tmp_path: Path, fault: FaultRecord, monkeypatch: pytest.MonkeyPatch
) -> None:
    import docker

    from devloop.core.spec import HealthCheck, HealthCheckType, ProjectSpec
    from devloop.providers.docker import rotation
    from devloop.providers.docker.provider import DockerProvider

    monkeypatch.setattr(rotation, "MONITOR_MIN_S", 1)  # the app's 1 s interval, not the 5 s floor

    image = build(
        'FROM python:3.12-slim\nCOPY s.py /s.py\nUSER 10001\nCMD ["python3", "/s.py"]\n', {"s.py": FLAPPING}
    )
    health = HealthCheck(HealthCheckType.HTTP, "/health", timeout_s=20, interval_s=1)
    app = web_app(tmp_path, name=f"flap{uuid.uuid4().hex[:5]}", health=health)
    provider = DockerProvider(ProjectSpec(tmp_path / "devloop.yaml", (app,), router_port=18300))
    notices: list[str] = []
    provider.router.on_notice = lambda _app, text: notices.append(text)
    watcher: asyncio.Task[None] | None = None
    client = docker.from_env()
    try:
        deployed = await provider.deploy(app, image, lambda _t: None)
        assert deployed.url is not None

        async def follow() -> None:
            async for _change in provider.watch_instances([app]):
                pass

        watcher = asyncio.create_task(follow())
        (container,) = client.containers.list(
            filters={"label": [f"devloop.app={app.name}", "devloop.index=0"]}
        )
        async with Load(provider.router.port or 0, deployed.url.removeprefix("http://")) as load:
            for _flap in range(2):
                await asyncio.to_thread(container.exec_run, ["touch", "/tmp/unready"])
                await async_wait_until(
                    lambda: len(provider.router.backends(app.name)) == 1, what="out of rotation"
                )
                await asyncio.to_thread(container.exec_run, ["rm", "/tmp/unready"])
                await async_wait_until(
                    lambda: len(provider.router.backends(app.name)) == 2, what="back in rotation"
                )
        assert load.result.failed == 0, load.result.failures
        fault.message(notices[0], "instance 0 failed its health check: out of rotation")
        fault.message(notices[1], "instance 0 passes its health check again: back in rotation")
    finally:
        if watcher is not None:
            watcher.cancel()
            await asyncio.gather(watcher, return_exceptions=True)
        await provider.remove(None)
        await provider.close()
        client.close()
        subprocess.run(["docker", "rmi", "-f", image], capture_output=True, check=False)


@pytest.mark.fault("the API server hangs", messages=1)
async def test_a_hanging_api_server_is_one_message_not_a_freeze(
    tmp_path: Path, fake_kind: FakeKind, monkeypatch: pytest.MonkeyPatch
) -> None:
    from devloop.adapters import kube
    from devloop.core.spec import ProjectSpec

    monkeypatch.setattr(kube, "REQUEST_S", 1.0, raising=False)  # the old client had no deadline at all
    provider = KindProvider(ProjectSpec(tmp_path / "devloop.yaml", (web_app(tmp_path),)))
    try:
        await provider.ensure_platform(lambda _text: None)
        api(fake_kind).inject("GET", r"/deployments/web$", "hang")
        with pytest.raises(ProviderError) as caught:
            await asyncio.wait_for(provider.kube.get("apps/v1", "deployments/web", provider.namespace), 15)
        assert str(caught.value).endswith("did not answer GET deployments/web within 1s")
    finally:
        await provider.close()


async def test_open_streams_never_starve_api_calls(tmp_path: Path, fake_kind: FakeKind) -> None:
    """Watches, log follows and port-forwards stay open for hours: with one shared pool, a hundred of
    them left no connection for a plain GET."""
    from devloop.core.spec import ProjectSpec

    provider = KindProvider(ProjectSpec(tmp_path / "devloop.yaml", (web_app(tmp_path),)))
    streams: list[asyncio.Task[None]] = []

    async def hold() -> None:
        async for _event in provider.kube.watch("v1", "pods", provider.namespace, "", None):
            pass

    try:
        await provider.ensure_platform(lambda _text: None)
        streams = [asyncio.create_task(hold()) for _ in range(110)]
        cluster = fake_kind.cluster
        await async_wait_until(lambda: cluster.call(lambda: len(cluster.api.watchers)) >= 100, timeout=30)  # type: ignore[attr-defined]
        found = await asyncio.wait_for(provider.kube.get("v1", f"namespaces/{provider.namespace}"), 10)
        assert found is not None and found["metadata"]["name"] == provider.namespace
    finally:
        for task in streams:
            task.cancel()
        await asyncio.gather(*streams, return_exceptions=True)
        await provider.close()
