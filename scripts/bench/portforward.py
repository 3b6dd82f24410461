"""Port-forward cost per connection: devloop's PortForward versus kr8s's, same run, same server.

The router opens one forwarded connection per request when an app closes its
connections, so what a forward costs per connection is devloop's CPU under load.
A TLS API server stand-in (aiohttp, the fake cluster's certificates: HTTPS with a
client certificate, as kind) speaks the port-forward WebSocket protocol
(`v4.channel.k8s.io`: each channel first carries the port, then channel 0 is
echoed). Each forward runs in a process of its own, built as devloop builds it
(KubeClient.port_forward; kr8s's PortForward over the client's streams session),
so its process CPU time is the forward's alone. The load, from this process:
N connections, C at a time, each sending a payload, reading its echo, closing.
Run: python -m scripts.bench.portforward [--connections 300] [--concurrency 50]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from scripts.bench.common import emit, summary

ROOT = Path(__file__).resolve().parents[2]
WARM_UP = 20  # connections before measuring: imports, TLS contexts, the streams session
POD = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web", "namespace": "default"}}


def serve(kubeconfig: Path) -> None:
    """The API server stand-in: writes a kubeconfig trusting it, prints its port, serves until killed."""
    import aiohttp.web

    from tests.fakes import kubetls

    async def portforward(request: aiohttp.web.Request) -> aiohttp.web.StreamResponse:
        ws = aiohttp.web.WebSocketResponse(protocols=("v4.channel.k8s.io",))
        await ws.prepare(request)
        prefix = struct.pack("<H", int(request.query["ports"]))
        await ws.send_bytes(b"\x00" + prefix)
        await ws.send_bytes(b"\x01" + prefix)
        async for message in ws:
            if message.type == aiohttp.WSMsgType.BINARY and message.data[:1] == b"\x00":
                await ws.send_bytes(message.data)
        return ws

    async def version(_request: aiohttp.web.Request) -> aiohttp.web.Response:
        return aiohttp.web.json_response({"major": "1", "minor": "33", "gitVersion": "v1.33.1"})  # kr8s asks

    async def main() -> None:
        app = aiohttp.web.Application()
        app.router.add_get("/api/v1/namespaces/{ns}/pods/{pod}/portforward", portforward)
        app.router.add_get("/version", version)
        app.router.add_get("/version/", version)
        runner = aiohttp.web.AppRunner(app, access_log=None)
        await runner.setup()
        site = aiohttp.web.TCPSite(runner, "127.0.0.1", 0, ssl_context=kubetls.server_context(), backlog=4096)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        c = kubetls.certs()

        def data(pem: bytes) -> str:
            return base64.b64encode(pem).decode()

        kubeconfig.write_text(yaml.safe_dump({
            "apiVersion": "v1", "kind": "Config", "current-context": "bench",
            "clusters": [{"name": "bench", "cluster": {"server": f"https://127.0.0.1:{port}",
                                                       "certificate-authority-data": data(c.ca)}}],
            "contexts": [{"name": "bench", "context": {"cluster": "bench", "user": "bench"}}],
            "users": [{"name": "bench", "user": {"client-certificate-data": data(c.client_cert),
                                                 "client-key-data": data(c.client_key)}}],
        }))  # fmt: skip
        print(port, flush=True)
        await asyncio.Event().wait()

    asyncio.run(main())


def forward(kind: str, kubeconfig: Path) -> None:
    """One forward to the stand-in's pod; prints its local port, then its CPU time per line on stdin."""
    from kr8s.asyncio.objects import Pod
    from kr8s.asyncio.portforward import PortForward as KrPortForward

    from devloop.adapters.kube import KubeClient

    async def main() -> None:
        client = await KubeClient.connect(kubeconfig, None)
        if kind == "devloop":
            pf: Any = await client.port_forward(POD, 8080)
        else:  # what port_forward returns through a proxy: kr8s's forward over the streams' pool
            await client._streams_session()
            pf = KrPortForward(Pod(POD, api=client.streams), 8080, local_port="auto")
        print(await pf.start(), flush=True)
        while await asyncio.to_thread(sys.stdin.readline):
            print(time.process_time(), flush=True)
        await pf.stop()
        await client.close()

    asyncio.run(main())


async def one(port: int, payload: bytes) -> float:
    """Connect, send, read the echo, close: the wall time of one forwarded connection."""
    started = time.perf_counter()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(payload)
        await writer.drain()
        if await asyncio.wait_for(reader.readexactly(len(payload)), 60) != payload:
            raise RuntimeError("the echo differs from what was sent")
    finally:
        writer.close()
        await writer.wait_closed()
    return time.perf_counter() - started


async def load(port: int, connections: int, concurrency: int, payload: bytes) -> tuple[list[float], int]:
    """Wall times of the connections that got their echo, and how many failed."""
    gate = asyncio.Semaphore(concurrency)

    async def gated() -> float:
        async with gate:
            return await one(port, payload)

    results = await asyncio.gather(*(gated() for _ in range(connections)), return_exceptions=True)
    times = [r for r in results if isinstance(r, float)]
    return times, len(results) - len(times)


def measure(
    kind: str, kubeconfig: Path, connections: int, concurrency: int, payload: bytes
) -> dict[str, Any]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "scripts.bench.portforward", "--forward", kind, str(kubeconfig)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT,
    )  # fmt: skip
    assert proc.stdin is not None and proc.stdout is not None

    def cpu() -> float:
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write("cpu\n")
        proc.stdin.flush()
        return float(proc.stdout.readline())

    try:
        port = int(proc.stdout.readline())
        asyncio.run(load(port, WARM_UP, concurrency, payload))
        cpu_before = cpu()
        started = time.perf_counter()
        times, failed = asyncio.run(load(port, connections, concurrency, payload))
        wall = time.perf_counter() - started
        cpu_s = cpu() - cpu_before
    finally:
        proc.stdin.close()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
    return {
        "cpu_ms_per_connection": round(cpu_s * 1000 / connections, 3),
        "cpu_s_total": round(cpu_s, 3),
        "wall_s_total": round(wall, 3),
        "connections_per_s": round(connections / wall, 1),
        "connection_wall": summary(times) if times else {},
        "failed": failed,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--connections", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--payload", type=int, default=512, help="bytes each connection sends and reads back")
    parser.add_argument("--serve", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--forward", nargs=2, metavar=("KIND", "KUBECONFIG"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve)
        return
    if args.forward:
        forward(args.forward[0], Path(args.forward[1]))
        return
    load_before = os.getloadavg()
    payload = (b"GET / HTTP/1.1\r\nHost: web.localhost\r\n" + b"x" * args.payload)[: args.payload]
    with tempfile.TemporaryDirectory() as folder:
        kubeconfig = Path(folder) / "kubeconfig"
        argv = [sys.executable, "-m", "scripts.bench.portforward", "--serve", str(kubeconfig)]
        server = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True, cwd=ROOT)
        try:
            assert server.stdout is not None
            server.stdout.readline()
            results = {
                kind: measure(kind, kubeconfig, args.connections, args.concurrency, payload)
                for kind in ("devloop", "kr8s")
            }
        finally:
            server.terminate()
            server.wait(10)
    devloop, kr8s = results["devloop"], results["kr8s"]
    cpu_ratio = kr8s["cpu_ms_per_connection"] / devloop["cpu_ms_per_connection"]
    emit(
        {
            "benchmark": "portforward",
            "connections": args.connections,
            "concurrency": args.concurrency,
            "payload_bytes": args.payload,
            "load_average_before": [round(x, 2) for x in load_before],
            "load_average_after": [round(x, 2) for x in os.getloadavg()],
            "server": "aiohttp, TLS with a client certificate (the fake cluster's certificates), own process",
            "devloop": devloop,
            "kr8s": kr8s,
            "cpu_ratio_kr8s_to_devloop": round(cpu_ratio, 2),
            "wall_ratio_kr8s_to_devloop": round(kr8s["wall_s_total"] / devloop["wall_s_total"], 2),
        }
    )


if __name__ == "__main__":
    main()
