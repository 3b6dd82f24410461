"""cf process types and sidecars on the kind provider (fake API server; pods are real containers).

One image runs as a routed `web` Deployment with a sidecar container in each pod and an
unrouted `worker` Deployment; each container's log is followed under its own tag.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path

import pytest

from devloop.core.events import InstanceStatus
from devloop.core.spec import HealthCheck, HealthCheckType, ProcessSpec, ProjectSpec, SidecarSpec
from devloop.providers.kind.provider import KindProvider
from tests.conftest import FakeKind
from tests.helpers import http_get
from tests.providers.kind.test_provider import SERVER, build, web_app

pytestmark = pytest.mark.docker

WORKER = (
    "import os, time\nprint('worker up, instance', os.environ['HOSTNAME'], flush=True)\ntime.sleep(3600)\n"
)
STATS = (
    "from http.server import BaseHTTPRequestHandler, HTTPServer\n"
    "class H(BaseHTTPRequestHandler):\n"
    "    def do_GET(self):\n"
    "        self.send_response(200); self.end_headers(); self.wfile.write(b'stats ok')\n"
    "print('stats up', flush=True)\n"
    "HTTPServer(('127.0.0.1', 9100), H).serve_forever()\n"
)
REACH_SIDECAR = (
    "import urllib.request; print(urllib.request.urlopen('http://127.0.0.1:9100/').read().decode())"
)


async def first_line(provider: KindProvider, instance: InstanceStatus) -> tuple[str, str]:
    async for line in provider.tail(instance, None, follow=False):
        return line.tag, line.text
    raise AssertionError(f"no log line from {instance.label}")


async def test_process_types_run_as_their_own_deployments_and_sidecars_share_the_pod(
    tmp_path: Path, fake_kind: FakeKind
) -> None:
    image = build(
        'FROM python:3.12-slim\nCOPY . /\nUSER 10001\nCMD ["python3", "/server.py"]\n',
        {"server.py": SERVER, "worker.py": WORKER, "stats.py": STATS},
    )
    app = web_app(
        tmp_path,
        instances=1,
        processes=(ProcessSpec("worker", "python3 /worker.py", 2, 64, HealthCheck(HealthCheckType.PROCESS)),),
        sidecars=(SidecarSpec("stats", "python3 /stats.py", ("web",)),),
    )
    provider = KindProvider(ProjectSpec(tmp_path / "devloop.yaml", (app,)))
    lines: list[str] = []
    try:
        await provider.ensure_platform(lambda _text: None)
        deployed = await provider.deploy(app, await provider.deliver(app, image, lines.append), lines.append)
        assert (
            deployed.url is not None and await asyncio.to_thread(http_get, deployed.url) == "hi"
        )  # only web is routed

        statuses = (await provider.instances(app)).instances
        assert [(i.label, i.state) for i in statuses] == [
            ("0", "running"), ("stats/0", "running"), ("worker/0", "running"), ("worker/1", "running")
        ]  # fmt: skip
        web, stats, worker, _ = statuses
        assert stats.id == web.id and stats.address is None  # the sidecar is a container of web's pod
        assert len(provider.forwards[app.name]) == 1  # one port-forward: the web pod's, not the workers'
        assert await first_line(provider, worker) == ("APP/worker/0", f"worker up, instance {worker.id}")
        assert await first_line(provider, stats) == ("APP/stats/0", "stats up")

        # Containers in a pod share its network: web reaches its sidecar on 127.0.0.1.
        result = await provider.kube.exec(provider.namespace, web.id, "web", ["python3", "-c", REACH_SIDECAR])
        assert (result.code, result.stdout.decode().strip()) == (0, "stats ok")
        memory = await provider.kube.get("apps/v1", "deployments/web-worker", provider.namespace)
        assert memory is not None
        assert memory["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["memory"] == "64Mi"

        # The worker type leaves the config: its Deployment goes, web keeps serving.
        await provider.deploy(replace(app, processes=(), sidecars=()), image, lines.append)
        assert await provider.kube.get("apps/v1", "deployments/web-worker", provider.namespace) is None
        assert await asyncio.to_thread(http_get, deployed.url) == "hi"
    finally:
        await provider.remove(None)
        await provider.close()
