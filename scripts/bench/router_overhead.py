"""Router overhead: wrk through devloop's router versus straight to one container, same run.

One container of a small keep-alive HTTP server (scripts/bench/app) publishes its
port on 127.0.0.1. The router runs in its own process pinned to one core, as
`devloop up` would run it, with access lines going into a log buffer. wrk (Debian's
package) runs on the other core: first one connection for latency (p50/p99), then
16 connections for throughput, each both straight to the container and through
the router (Host: bench.localhost). Targets: p50 overhead under 1 ms and at least
3,000 requests per second through the router.
Run: python -m scripts.bench.router_overhead [--seconds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

from devloop.adapters import dockercli
from scripts.bench.common import emit

APP = Path(__file__).resolve().parent / "app"
UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0}


def build_image(tag: str) -> None:
    docker = dockercli.detect().path
    subprocess.run([docker, "build", "-q", "-t", tag, str(APP)], check=True, capture_output=True)


def wrk(url: str, host: str | None, connections: int, seconds: int) -> dict[str, Any]:
    argv = ["taskset", "-c", "1", "wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency"]
    argv += ["-H", f"Host: {host}"] if host else []
    out = subprocess.run([*argv, url], capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    latency = {
        pct: float(value) * UNITS[unit]
        for pct, value, unit in re.findall(r"^\s+(50|99)%\s+([\d.]+)(us|ms|s)$", out, re.MULTILINE)
    }
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(r"Socket errors: (.*)", out)
    return {
        "requests_per_s": round(rps),
        "p50_ms": round(latency["50"], 3),
        "p99_ms": round(latency["99"], 3),
        "non_2xx": int(errors.group(1)) if errors else 0,
        "socket_errors": socket_errors.group(1) if socket_errors else "none",
    }


def serve(port: int, backend_port: int) -> None:
    """The router alone, as in `devloop up`: one app, one instance, access lines into a LogBuffer."""
    from devloop.core.logbuffer import LogBuffer, LogLine
    from devloop.core.spec import AppSpec
    from devloop.router.router import Router

    async def main() -> None:
        logs = LogBuffer()
        router = Router(port)
        router.on_access = lambda app, text: logs.add(LogLine(app, "RTR", text))
        await router.ensure(AppSpec("bench", Path(".")))
        router.set_backends("bench", [("127.0.0.1", backend_port, "0")])
        print(router.port, flush=True)
        await asyncio.Event().wait()

    asyncio.run(main())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--serve", nargs=2, type=int, metavar=("PORT", "BACKEND"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        os.sched_setaffinity(0, {0})  # the router gets one core
        serve(*args.serve)
        return
    if shutil.which("wrk") is None:
        sys.exit("needs wrk: apt-get install wrk")
    docker = dockercli.detect().path
    tag = f"devloop-bench/router:{uuid.uuid4().hex[:8]}"
    build_image(tag)
    name = f"devloop-bench-router-{uuid.uuid4().hex[:6]}"
    subprocess.run([docker, "run", "-d", "--name", name, "-p", "127.0.0.1::8080", tag], check=True,
                   capture_output=True)  # fmt: skip
    router = None
    try:
        mapping = subprocess.run([docker, "port", name, "8080/tcp"], capture_output=True, text=True,
                                 check=True)  # fmt: skip
        backend_port = int(mapping.stdout.split()[0].rsplit(":", 1)[1])
        router = subprocess.Popen(
            [sys.executable, "-m", "scripts.bench.router_overhead", "--serve", "18090", str(backend_port)],
            stdout=subprocess.PIPE, text=True, cwd=Path(__file__).resolve().parents[2],
        )  # fmt: skip
        assert router.stdout is not None
        router_port = int(router.stdout.readline())
        direct = f"http://127.0.0.1:{backend_port}/"
        routed = f"http://127.0.0.1:{router_port}/"
        host = f"bench.localhost:{router_port}"
        wrk(direct, None, 4, 1)  # warm up both paths
        wrk(routed, host, 4, 1)
        latency = {"direct": wrk(direct, None, 1, args.seconds), "router": wrk(routed, host, 1, args.seconds)}
        load = {"direct": wrk(direct, None, 16, args.seconds), "router": wrk(routed, host, 16, args.seconds)}
    finally:
        if router is not None:
            router.terminate()
            router.wait(10)
        subprocess.run([docker, "rm", "-f", name], capture_output=True, check=False)
        subprocess.run([docker, "rmi", "-f", tag], capture_output=True, check=False)
    overhead = latency["router"]["p50_ms"] - latency["direct"]["p50_ms"]
    emit(
        {
            "benchmark": "router_overhead",
            "tool": "wrk -t1 (pinned to core 1); router pinned to core 0",
            "latency_1_connection": latency,
            "throughput_16_connections": load,
            "p50_overhead_ms": round(overhead, 3),
            "p99_overhead_ms": round(latency["router"]["p99_ms"] - latency["direct"]["p99_ms"], 3),
            "target": "p50 overhead < 1 ms and >= 3000 requests/s through the router on one core",
            "met": overhead < 1.0 and load["router"]["requests_per_s"] >= 3000,
        }
    )


if __name__ == "__main__":
    main()
