"""The kind provider under load (issue 19): 150 concurrent router connections while logs stream and a rollout runs.

Against the strict fake API server (pods as real containers, port-forward over
its HTTPS WebSockets) and the fake kind CLI. The clients run in a process of
their own (tests/burst.py), as a browser or a load tool would.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from devloop.adapters.kube import REQUEST_S
from devloop.core.events import InstanceStatus
from devloop.core.spec import AppSpec, HealthCheck, HealthCheckType, ProjectSpec
from devloop.providers.kind.provider import KindProvider
from tests.burst import Burst
from tests.conftest import FakeKind
from tests.helpers import async_wait_until
from tests.providers.kind.test_provider import build

pytestmark = pytest.mark.docker

CONNECTIONS = 150

# A server as apps ship them (gunicorn, uvicorn, node): a thread per connection and a deep listen
# backlog, one log line per request. A single-threaded http.server (backlog 5) cannot take this
# load: connections it has no room for wait on SYN retries, and some requests time out at 10 s
# (measured here, and so on a real cluster, whose kubelet dials the pod the same way).
SERVER = (
    "import os, socket, sys\nfrom http.server import BaseHTTPRequestHandler, ThreadingHTTPServer\n"
    "class H(BaseHTTPRequestHandler):\n"
    "    def do_GET(self):\n"
    "        body = os.environ['GREETING'].encode()\n"
    "        self.send_response(200); self.send_header('Content-Length', str(len(body))); self.end_headers()\n"
    "        self.wfile.write(body)\n"
    "    def log_message(self, format, *args):\n"
    "        print('served', self.path, flush=True)\n"
    "class S(ThreadingHTTPServer):\n"
    "    request_queue_size = socket.SOMAXCONN\n"
    "    daemon_threads = True\n"
    "S(('0.0.0.0', int(os.environ['PORT'])), H).serve_forever()\n"
)


@pytest.fixture(scope="module")
def busy_image() -> Iterator[str]:
    tag = build('FROM python:3.12-slim\nCOPY server.py /server.py\nUSER 10001\nCMD ["python3", "/server.py"]\n',
                {"server.py": SERVER})  # fmt: skip
    yield tag
    import subprocess

    subprocess.run(["docker", "rmi", "-f", tag], capture_output=True)


def busy_app(tmp_path: Path, greeting: str) -> AppSpec:
    return AppSpec(name="web", source=tmp_path, instances=2, port=8080, env=(("GREETING", greeting),),
                   health=HealthCheck(HealthCheckType.HTTP, "/", timeout_s=20))  # fmt: skip


@pytest.fixture
async def provider(tmp_path: Path, fake_kind: FakeKind) -> AsyncIterator[KindProvider]:
    kind = KindProvider(ProjectSpec(tmp_path / "devloop.yaml", (busy_app(tmp_path, "v0"),)))
    yield kind
    await kind.close()


@pytest.mark.fault("150 router connections while logs stream and a rollout runs")
async def test_150_router_connections_while_logs_stream_and_a_rollout_runs(
    provider: KindProvider, busy_image: str, tmp_path: Path
) -> None:
    await provider.ensure_platform(lambda _text: None)
    first = busy_app(tmp_path, "v0")
    image = await provider.deliver(first, busy_image, lambda _text: None)
    deployed = await provider.deploy(first, image, lambda _text: None)
    assert deployed.url is not None and provider.router.port is not None
    loop = asyncio.get_running_loop()
    lines: list[tuple[float, str]] = []  # (when, pod) of every log line the follows delivered
    tasks: list[asyncio.Task[None]] = []

    async def watch() -> None:  # the router follows the pod watch, as in `devloop up`
        async for _change in provider.watch_instances([first]):
            pass

    async def follow_logs() -> None:  # `devloop logs`: every running instance's lines, as they come
        followed: set[str] = set()
        while True:
            for instance in provider.snapshot(first).instances:
                if instance.state == "running" and instance.id not in followed:
                    followed.add(instance.id)
                    tasks.append(asyncio.create_task(follow(instance)))
            await asyncio.sleep(0.2)

    async def follow(instance: InstanceStatus) -> None:
        async for line in provider.tail(instance, None, follow=True):
            if "served" in line.text:
                lines.append((loop.time(), line.container))

    api_calls: list[float] = []  # seconds each `status` call took during the load

    async def call_api() -> None:
        while True:
            started = loop.time()
            statuses = await provider.instances(first)
            assert statuses.instances
            api_calls.append(loop.time() - started)
            await asyncio.sleep(0.2)

    tasks += [asyncio.create_task(watch()), asyncio.create_task(follow_logs())]
    burst = Burst(provider.router.port, deployed.url.removeprefix("http://"), CONNECTIONS)
    try:
        await async_wait_until(lambda: burst.total() > 2 * CONNECTIONS, timeout=120, what="the load under way")
        tasks.append(asyncio.create_task(call_api()))
        lines_before = len(lines)
        await async_wait_until(
            lambda: len(lines) > lines_before + 50, timeout=120, what="log lines under load"
        )
        rollout_began = loop.time()
        second = busy_app(tmp_path, "v1")
        await asyncio.wait_for(provider.deploy(second, image, lambda _text: None), 180)
        rollout_ended = loop.time()
        after, new_pods = burst.total(), {i.id for i in provider.snapshot(second).instances}
        # The new pods serve the load and their lines reach the follows too.
        await async_wait_until(
            lambda: burst.total() > after + 2 * CONNECTIONS and any(p in new_pods for _t, p in lines),
            timeout=120, what="the new version serving and logging",
        )  # fmt: skip
        outcomes, slowest_s = await asyncio.to_thread(burst.finish)
    finally:
        burst.kill()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    failures = {k: v for k, v in outcomes.items() if k not in ("200 v0", "200 v1", "503")}
    assert not failures, (failures, outcomes, f"slowest {slowest_s:.1f}s")
    assert outcomes["200 v0"] > CONNECTIONS and outcomes["200 v1"] > CONNECTIONS, outcomes
    # The follows kept delivering while the rollout ran, not only before and after it.
    assert any(rollout_began < when < rollout_ended for when, _pod in lines), (rollout_began, rollout_ended)
    # Plain API calls were never starved by the streams: each answered within its own deadline.
    assert api_calls and max(api_calls) < REQUEST_S, api_calls
