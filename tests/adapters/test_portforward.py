"""devloop's port-forward client against a WebSocket server speaking the API server's port-forward protocol.

No Docker: the server (aiohttp, as the fake API server) echoes channel 0 in upper
case, so every byte's way through the WebSocket framing both ways is checked; the
Kubernetes side of it against pods as containers is tests/providers/kind/test_under_load.py.
"""

from __future__ import annotations

import asyncio
import struct
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import aiohttp
import aiohttp.web
import pytest

from devloop.adapters import portforward
from devloop.adapters.portforward import Endpoint, PortForward, Slots
from tests.helpers import async_wait_until


@dataclass
class Server:
    url: str
    seen: list[dict[str, str]] = field(default_factory=list)  # each upgrade's headers and query
    refuse_next: int = 0  # answer this many upgrades with refuse_status
    refuse_status: int = 401


@pytest.fixture
async def server() -> AsyncIterator[Server]:
    state = Server("")

    async def portforward(request: aiohttp.web.Request) -> aiohttp.web.StreamResponse:
        state.seen.append({**request.headers, "ports": request.query.get("ports", "")})
        if state.refuse_next:
            state.refuse_next -= 1
            body = f'{{"kind": "Status", "message": "refused", "code": {state.refuse_status}}}'
            return aiohttp.web.Response(status=state.refuse_status, text=body, content_type="application/json")
        ws = aiohttp.web.WebSocketResponse(protocols=("v4.channel.k8s.io",))
        await ws.prepare(request)
        prefix = struct.pack("<H", int(request.query["ports"]))
        await ws.send_bytes(b"\x00" + prefix)
        await ws.send_bytes(b"\x01" + prefix)
        if request.match_info["pod"] == "refusing":
            await ws.send_bytes(b"\x01error forwarding port 8080 to pod refusing: connection refused")
            await ws.close()
            return ws
        async for message in ws:
            if message.type == aiohttp.WSMsgType.BINARY and message.data[:1] == b"\x00":
                await ws.send_bytes(b"\x00" + message.data[1:].upper())
        return ws

    app = aiohttp.web.Application()
    app.router.add_get("/prefix/api/v1/namespaces/{ns}/pods/{pod}/portforward", portforward)
    runner = aiohttp.web.AppRunner(app)
    await runner.setup()
    site = aiohttp.web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    state.url = f"http://127.0.0.1:{port}/prefix"
    yield state
    await runner.cleanup()


def forward_to(server: Server, pod: str, slots: Slots | None = None) -> tuple[PortForward, list[int]]:
    reauthenticated: list[int] = []

    async def endpoint() -> Endpoint:
        token = f"token-{len(reauthenticated)}"
        return Endpoint(server.url, None, None, (("Authorization", f"Bearer {token}"),))

    async def reauthenticate() -> None:
        reauthenticated.append(1)

    return PortForward(endpoint, reauthenticate, "ns", pod, 8080, slots or Slots()), reauthenticated


async def exchange(port: int, data: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(data)
        await writer.drain()
        return await asyncio.wait_for(reader.readexactly(len(data)), 10)
    finally:
        writer.close()


async def test_bytes_cross_both_ways_whatever_their_size(server: Server) -> None:
    forward, _ = forward_to(server, "web")
    port = await forward.start()
    try:
        # 125, 126 and 2^16 bytes: the three length encodings of a frame, each masked by the client.
        for size in (10, 124, 125, 65535, 300_000):
            payload = bytes(range(97, 123)) * (size // 26 + 1)
            assert await exchange(port, payload[:size]) == payload[:size].upper()
    finally:
        await forward.stop()
    upgrade = server.seen[0]
    assert upgrade["Sec-WebSocket-Protocol"] == "v4.channel.k8s.io" and upgrade["ports"] == "8080"
    assert upgrade["Authorization"] == "Bearer token-0"


async def test_concurrent_connections_each_get_their_own_stream(server: Server) -> None:
    forward, _ = forward_to(server, "web")
    port = await forward.start()
    try:
        answers = await asyncio.gather(*(exchange(port, f"conn-{n}-".encode() * 50) for n in range(40)))
    finally:
        await forward.stop()
    assert answers == [f"CONN-{n}-".encode() * 50 for n in range(40)]
    assert len(server.seen) == 40


async def test_an_error_on_the_error_channel_closes_the_connection(server: Server) -> None:
    forward, _ = forward_to(server, "refusing")
    port = await forward.start()
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET / HTTP/1.1\r\n\r\n")
        assert await asyncio.wait_for(reader.read(), 10) == b""  # closed unanswered: the router retries
        writer.close()
    finally:
        await forward.stop()


async def test_a_401_reads_the_credentials_again_and_retries_once(server: Server) -> None:
    forward, reauthenticated = forward_to(server, "web")
    server.refuse_next = 1
    port = await forward.start()
    try:
        assert await exchange(port, b"hello") == b"HELLO"
    finally:
        await forward.stop()
    assert reauthenticated == [1]
    assert [s["Authorization"] for s in server.seen] == ["Bearer token-0", "Bearer token-1"]


async def test_another_refusal_closes_the_connection_without_a_retry(server: Server) -> None:
    forward, reauthenticated = forward_to(server, "web")
    server.refuse_next, server.refuse_status = 1, 403
    port = await forward.start()
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"hello")
        assert await asyncio.wait_for(reader.read(), 10) == b""  # closed unanswered: the router retries
        writer.close()
    finally:
        await forward.stop()
    assert reauthenticated == [] and len(server.seen) == 1


async def test_past_the_bound_a_connection_is_closed_unanswered_not_held(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(portforward, "SLOT_WAIT_S", 0.3)
    slots = Slots(limit=1)
    forward, _ = forward_to(server, "web", slots)
    port = await forward.start()
    try:
        held_r, held_w = await asyncio.open_connection("127.0.0.1", port)
        held_w.write(b"first")
        assert await asyncio.wait_for(held_r.readexactly(5), 10) == b"FIRST"  # it holds the only slot
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"second")
        assert await asyncio.wait_for(reader.read(), 5) == b""  # refused after SLOT_WAIT_S
        writer.close()
        assert slots.refused == 1
        held_w.close()
        # The slot is free again once the first connection ended.
        await async_wait_until(lambda: not slots.semaphore.locked(), timeout=5, what="the slot back")
        assert await asyncio.wait_for(exchange(port, b"third"), 5) == b"THIRD"
    finally:
        await forward.stop()
