"""Failed requests during 10 redeploys under constant load: devloop's router versus the naive loop.

devloop's way: the docker provider runs two instances behind the router; four
client threads send keep-alive requests through it (Host: bench.localhost) while
the app is redeployed 10 times (a new env value each time, so new containers
replace the old: start, health check, rotation, drain, stop). The naive way, same
run, same image, same load: one container published on a fixed loopback port,
replaced 10 times with `docker rm -f` then `docker run`, waiting until it answers
before the next. Every request that errors, times out or is not a 200 counts.
Run: python -m scripts.bench.router_redeploys [--redeploys 10]
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import subprocess
import tempfile
import time
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any

from devloop.adapters import dockercli
from devloop.core.spec import AppSpec, HealthCheck, HealthCheckType, ProjectSpec
from devloop.providers.docker.provider import DockerProvider
from devloop.router.net import free_port
from scripts.bench.common import emit
from scripts.bench.router_overhead import build_image
from tests.load import Load, LoadResult

REQUESTS_BETWEEN = 200  # requests that pass between two redeploys


def answers(port: int) -> bool:
    try:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
        connection.request("GET", "/")
        ok = connection.getresponse().status == 200
        connection.close()
        return ok
    except (OSError, http.client.HTTPException):
        return False


def report(result: LoadResult, redeploys: int, seconds: float) -> dict[str, Any]:
    return {
        "redeploys": redeploys,
        "requests": result.ok + result.failed,
        "failed": result.failed,
        "failures_by_kind": dict(result.failures),
        "seconds": round(seconds, 1),
    }


async def through_router(image: str, redeploys: int) -> dict[str, Any]:
    folder = Path(tempfile.mkdtemp(prefix="devloop-bench-router-"))
    app = AppSpec(
        "bench", folder, image=image, instances=2, env=(("GREETING", "v0"),),
        health=HealthCheck(HealthCheckType.HTTP, "/", timeout_s=30),
    )  # fmt: skip
    provider = DockerProvider(ProjectSpec(folder / "devloop.yaml", (app,), router_port=18100))
    try:
        await provider.deploy(app, image, lambda _t: None)
        port = provider.router.port
        assert port is not None
        started = time.monotonic()
        async with Load(port, f"bench.localhost:{port}") as load:
            for n in range(1, redeploys + 1):
                while load.total() < n * REQUESTS_BETWEEN:
                    await asyncio.sleep(0.01)  # let the load run between redeploys
                await provider.deploy(replace(app, env=(("GREETING", f"v{n}"),)), image, lambda _t: None)
            while load.total() < (redeploys + 1) * REQUESTS_BETWEEN:
                await asyncio.sleep(0.01)
        result = report(load.result, redeploys, time.monotonic() - started)
        result["versions_served"] = len({body.split()[0] for body in load.result.bodies})
        return result
    finally:
        await provider.remove(None)
        await provider.close()


def naive(image: str, redeploys: int) -> dict[str, Any]:
    docker = dockercli.detect().path
    port = free_port(18200)
    name = f"devloop-bench-naive-{uuid.uuid4().hex[:6]}"

    def run(version: int) -> None:
        subprocess.run([docker, "run", "-d", "--name", name, "-e", f"GREETING=v{version}",
                        "-p", f"127.0.0.1:{port}:8080", image], check=True, capture_output=True)  # fmt: skip
        while not answers(port):
            time.sleep(0.01)  # the naive script polls until the new container answers

    run(0)
    started = time.monotonic()
    try:
        with Load(port, f"127.0.0.1:{port}") as load:
            for n in range(1, redeploys + 1):
                while load.total() < n * REQUESTS_BETWEEN:
                    time.sleep(0.01)
                subprocess.run([docker, "rm", "-f", name], check=True, capture_output=True)
                run(n)
            while load.total() < (redeploys + 1) * REQUESTS_BETWEEN:
                time.sleep(0.01)
        return report(load.result, redeploys, time.monotonic() - started)
    finally:
        subprocess.run([docker, "rm", "-f", name], capture_output=True, check=False)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--redeploys", type=int, default=10)
    args = parser.parse_args()
    tag = f"devloop-bench/router:{uuid.uuid4().hex[:8]}"
    build_image(tag)
    try:
        ours = asyncio.run(through_router(tag, args.redeploys))
        theirs = naive(tag, args.redeploys)
    finally:
        subprocess.run([dockercli.detect().path, "rmi", "-f", tag], capture_output=True, check=False)
    emit(
        {
            "benchmark": "router_redeploys",
            "load": "4 threads, keep-alive GET /, failures paced at 10 ms",
            "router": ours,
            "naive_rm_run": theirs,
            "target": "0 failed requests through the router",
            "met": ours["failed"] == 0,
        }
    )


if __name__ == "__main__":
    main()
