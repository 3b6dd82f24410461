"""The log multiplexer over the kind provider, against the fake API server (pods are real containers)."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path

import pytest

from devloop.core.logbuffer import LogBuffer
from devloop.core.spec import AppSpec, HealthCheck, HealthCheckType, ProjectSpec
from devloop.engine.logmux import LogMux
from devloop.providers.kind.provider import KindProvider
from tests.conftest import FakeKind, FaultRecord
from tests.helpers import async_wait_until
from tests.logs.test_logs_docker import COUNTER, numbers
from tests.providers.kind.test_provider import build

pytestmark = pytest.mark.docker


@pytest.mark.fault("Kubernetes log streams closed mid-burst (and a pod added)")
async def test_every_pod_every_line_once_through_cuts_and_a_scale_up(
    tmp_path: Path, fake_kind: FakeKind, fault: FaultRecord
) -> None:
    image = build('FROM python:3.12-slim\nCOPY count.py /count.py\nUSER 10001\nCMD ["python3", "/count.py"]\n',
                  {"count.py": COUNTER})  # fmt: skip
    app = AppSpec("count", tmp_path, instances=2, no_route=True, health=HealthCheck(HealthCheckType.PROCESS))
    provider = KindProvider(ProjectSpec(tmp_path / "devloop.yaml", (app,)))
    buffer = LogBuffer(per_app=1_000_000)
    mux = LogMux(provider, buffer)
    cluster = fake_kind.cluster
    api = cluster.api  # type: ignore[attr-defined]

    async def follow() -> None:
        async for change in provider.watch_instances([app]):
            mux.on_instances(change)

    await provider.ensure_platform(lambda _t: None)
    watcher = asyncio.create_task(follow())
    try:
        await provider.deploy(app, image, lambda _t: None)
        pods = lambda: {line.container for line in buffer.lines()}  # noqa: E731
        await async_wait_until(lambda: len(pods()) == 2, timeout=30, what="lines from both pods")
        await async_wait_until(
            lambda: all(len(numbers(list(buffer.lines()), p)) > 300 for p in pods()), timeout=30
        )
        assert cluster.call(api.cut_log_streams) == 2  # type: ignore[attr-defined]
        cut = {p: len(numbers(list(buffer.lines()), p)) for p in pods()}
        # A third instance joins mid-stream; its lines join the stream from its first one.
        await provider.deploy(replace(app, instances=3), image, lambda _t: None)
        await async_wait_until(lambda: len(pods()) == 3, timeout=30, what="the new pod's lines")
        await async_wait_until(
            lambda: all(len(numbers(list(buffer.lines()), p)) > cut.get(p, 0) + 600 for p in pods()), timeout=60,
            what="every tail to go on",
        )  # fmt: skip
        lines = list(buffer.lines())
        for pod in pods():
            seen = numbers(lines, pod)
            fault.count_lines(seen)
            assert seen[0] == 0, f"{pod} did not start at its first line"
            assert seen == list(range(len(seen))), f"gap or repeat in {pod}"
        indexes = sorted({line.instance for line in lines if line.source == "APP"})
        assert indexes == [0, 1, 2]  # each pod keeps one instance index
    finally:
        watcher.cancel()
        await asyncio.gather(watcher, return_exceptions=True)
        await mux.close()
        await provider.remove(None)
        await provider.close()
