"""Real containers: every line exactly once, in order, even when the log streams are cut mid-burst."""

from __future__ import annotations

import uuid
from pathlib import Path

import docker
import pytest

from devloop.adapters import dockercli
from devloop.adapters.dockersdk import SdkDockerEngine
from devloop.build.builder import ImageBuilder
from devloop.core.logbuffer import LogBuffer, LogLine
from devloop.core.spec import AppSpec, BuildSpec, HealthCheck, HealthCheckType, ProjectSpec
from devloop.engine.logmux import LogMux
from devloop.providers.docker.provider import DockerProvider
from tests.conftest import FaultRecord
from tests.e2e.test_docker_outage import Relay
from tests.helpers import async_wait_until

pytestmark = pytest.mark.docker

COUNTER = "import time\ni = 0\nwhile True:\n    print(i, flush=True)\n    i += 1\n    time.sleep(0.002)\n"


def numbers(lines: list[LogLine], container: str) -> list[int]:
    return [int(line.text) for line in lines if line.container == container and line.text.isdigit()]


@pytest.mark.fault("Docker log streams cut mid-burst (engine connection lost)")
async def test_stream_cut_mid_burst_loses_and_repeats_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fault: FaultRecord
) -> None:
    (tmp_path / "Dockerfile").write_text(
        'FROM python:3.12-slim\nCOPY count.py /count.py\nUSER 10001\nCMD ["python3", "/count.py"]\n'
    )
    (tmp_path / "count.py").write_text(COUNTER)
    app = AppSpec(f"count{uuid.uuid4().hex[:5]}", tmp_path, BuildSpec(tmp_path, tmp_path / "Dockerfile"),
                  instances=2, no_route=True, health=HealthCheck(HealthCheckType.PROCESS))  # fmt: skip
    engine = docker.from_env()
    image = (await ImageBuilder(dockercli.detect(), SdkDockerEngine(engine)).build(app)).image
    relay = Relay(tmp_path / "engine.sock")
    relay.start()
    monkeypatch.setenv("DOCKER_HOST", f"unix://{relay.path}")
    provider = DockerProvider(ProjectSpec(tmp_path / "devloop.yaml", (app,)))
    buffer = LogBuffer(per_app=1_000_000)
    mux = LogMux(provider, buffer)
    try:
        await provider.deploy(app, image, lambda _t: None)
        snapshot = await provider.instances(app)
        ids = [i.id for i in snapshot.instances]
        assert len(ids) == 2
        mux.on_instances(snapshot)
        lines = list(buffer.lines())
        await async_wait_until(
            lambda: all(len(numbers(list(buffer.lines()), c)) > 300 for c in ids), timeout=30
        )
        relay.kill()  # every stream is cut in the middle of the burst
        cut = {c: len(numbers(list(buffer.lines()), c)) for c in ids}
        relay.start()
        await async_wait_until(
            lambda: all(len(numbers(list(buffer.lines()), c)) > cut[c] + 600 for c in ids), timeout=60,
            what="the tails to resume",
        )  # fmt: skip
        lines = list(buffer.lines())
        for container in ids:
            seen = numbers(lines, container)
            fault.count_lines(seen)
            assert seen == list(range(seen[0], seen[0] + len(seen))), f"gap or repeat in {container[:12]}"
            assert seen[0] == 0  # from the container's first line
    finally:
        await mux.close()
        await provider.remove(None)
        await provider.close()
        relay.kill()
        engine.close()
