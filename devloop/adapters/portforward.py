"""Port-forward to a pod over the API server's WebSocket protocol, cheap enough for every router connection.

The router opens a connection to an instance per request when the app closes
its connections (HTTP/1.0 servers, `Connection: close`), and the Kubernetes
WebSocket port-forward protocol (`v4.channel.k8s.io`: channel 0 data, channel 1
errors, each first carrying the port as two little-endian bytes) carries one TCP
connection per WebSocket (many on one connection takes SPDY, which kr8s does not
speak). kr8s's PortForward opens each through httpx, httpcore (whose pool scans
every open connection per request) and anyio's Python TLS layer: under 150
concurrent router connections devloop spent about 11 ms of CPU per request, so
on a busy laptop requests queued past their timeouts. Here each connection is
one asyncio TLS stream, one upgrade request and a minimal RFC 6455 frame codec;
the same load costs devloop less than half of that.

Connections in flight are bounded (MAX_FORWARDS across the client): past it a
new one waits SLOT_WAIT_S for a slot, then is closed unanswered, which the
router answers with another instance or its 503 page, never a hang. A WebSocket
that cannot be opened (the pod is gone, the port refused) closes the local
connection the same way.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import os
import ssl
import struct
import urllib.parse
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

MAX_FORWARDS = 512  # WebSockets open at once across every pod (each holds a connection to its pod)
SLOT_WAIT_S = 2.0  # how long a new connection waits for a slot before it is closed unanswered
CONNECT_S = 10.0  # TCP, TLS and the upgrade's answer
CLOSE_S = 5.0  # how long the API server has to answer our close before the connection is dropped
CHUNK = 64 * 1024
PROTOCOL = "v4.channel.k8s.io"
_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455 section 1.3


class UpgradeRefused(Exception):
    """The API server answered the upgrade with a status, not 101."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{status}: {message}")
        self.status = status


@dataclass(frozen=True)
class Endpoint:
    """Where and how to reach the API server, as the kubeconfig says."""

    url: str  # https://host:port[/prefix]
    ssl_context: ssl.SSLContext | None  # None for plain http
    server_hostname: str | None  # tls-server-name, else the URL's host
    headers: tuple[tuple[str, str], ...]  # Authorization, User-Agent


Credentials = Callable[[], Awaitable[Endpoint]]  # the endpoint, re-read after a 401 (rotated tokens)


class Slots:
    """The bound on WebSockets in flight, shared by every forward of one client."""

    def __init__(self, limit: int = MAX_FORWARDS) -> None:
        self.semaphore = asyncio.Semaphore(limit)
        self.refused = 0  # connections closed unanswered for want of a slot (shown by tests)


class PortForward:
    """A loopback listener on a free port whose every connection reaches `port` of one pod."""

    def __init__(
        self, endpoint: Credentials, reauthenticate: Callable[[], Awaitable[None]], namespace: str,
        pod: str, port: int, slots: Slots,
    ) -> None:  # fmt: skip
        self._endpoint = endpoint
        self._reauthenticate = reauthenticate
        self.path = f"/api/v1/namespaces/{namespace}/pods/{pod}/portforward?ports={port}"
        self.port = port
        self.slots = slots
        self.local_port = 0
        self._server: asyncio.Server | None = None
        self._relays: set[asyncio.Task[None]] = set()

    async def start(self) -> int:
        # A backlog as deep as the kernel allows: a burst of router connections waits in the queue
        # instead of being dropped (a dropped SYN is sent again only after a second).
        self._server = await asyncio.start_server(self._accepted, "127.0.0.1", 0, backlog=4096)
        self.local_port = self._server.sockets[0].getsockname()[1]
        return self.local_port

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._relays):
            task.cancel()
        await asyncio.gather(*self._relays, return_exceptions=True)

    async def _accepted(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._relays.add(task)
        try:
            try:
                await asyncio.wait_for(self.slots.semaphore.acquire(), SLOT_WAIT_S)
            except TimeoutError:
                self.slots.refused += 1
                return
            try:
                await self._relay(reader, writer)
            finally:
                self.slots.semaphore.release()
        except (OSError, asyncio.IncompleteReadError, UpgradeRefused, ValueError):
            pass  # the pod or the API server went away: the local connection closes, the router retries
        except asyncio.CancelledError:
            pass  # stop(): the forward ends (asyncio's server callback would log a cancelled handler)
        finally:
            self._relays.discard(task)
            writer.close()
            with contextlib.suppress(OSError, asyncio.CancelledError):
                await writer.wait_closed()

    async def _relay(self, local_r: asyncio.StreamReader, local_w: asyncio.StreamWriter) -> None:
        async with asyncio.timeout(CONNECT_S):
            try:
                ws_r, ws_w = await self._open(await self._endpoint())
            except UpgradeRefused as refused:
                if refused.status != 401:
                    raise
                await self._reauthenticate()  # an expired token (exec plugins, bound tokens)
                ws_r, ws_w = await self._open(await self._endpoint())
        up = asyncio.create_task(_local_to_ws(local_r, ws_w))
        down = asyncio.create_task(_ws_to_local(ws_r, ws_w, local_w))
        try:
            await asyncio.wait((up, down), return_when=asyncio.FIRST_COMPLETED)
            if not down.done():  # the local client is done: the API server answers the close at once
                await asyncio.wait((down,), timeout=CLOSE_S)
        finally:
            for task in (up, down):
                task.cancel()
            await asyncio.gather(up, down, return_exceptions=True)
            ws_w.close()

    async def _open(self, endpoint: Endpoint) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """The upgraded connection, after the API server's 101."""
        parts = urllib.parse.urlsplit(endpoint.url)
        secure = parts.scheme == "https"
        host = parts.hostname or "localhost"
        port = parts.port or (443 if secure else 80)
        reader, writer = await asyncio.open_connection(
            host, port, limit=CHUNK * 2, ssl=endpoint.ssl_context if secure else None,
            server_hostname=(endpoint.server_hostname or host) if secure else None,
        )  # fmt: skip
        try:
            key = base64.b64encode(os.urandom(16)).decode()
            lines = [
                f"GET {parts.path.rstrip('/')}{self.path} HTTP/1.1",
                f"Host: {parts.netloc}",
                "Upgrade: websocket",
                "Connection: Upgrade",
                f"Sec-WebSocket-Key: {key}",
                "Sec-WebSocket-Version: 13",
                f"Sec-WebSocket-Protocol: {PROTOCOL}",
                *(f"{name}: {value}" for name, value in endpoint.headers),
            ]
            writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
            head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
            status_line, *header_lines = head.split("\r\n")
            status = int(status_line.split()[1])
            headers = {
                k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in header_lines if h)
            }
            if status != 101:
                raise UpgradeRefused(status, await _status_message(reader, headers))
            accept = base64.b64encode(hashlib.sha1(key.encode() + _GUID).digest()).decode()
            if headers.get("sec-websocket-accept") != accept:
                raise UpgradeRefused(status, "the WebSocket handshake's accept key is wrong")
        except BaseException:
            writer.close()
            raise
        return reader, writer


async def _status_message(reader: asyncio.StreamReader, headers: dict[str, str]) -> str:
    """The message of the Status body a refused upgrade carries, if it has one."""
    try:
        length = int(headers.get("content-length", "0"))
        body = await reader.readexactly(min(length, CHUNK)) if length else b""
        return str(json.loads(body).get("message") or body[:200].decode(errors="replace"))
    except (ValueError, asyncio.IncompleteReadError, AttributeError):
        return "no message"


def frame(opcode: int, payload: bytes) -> bytes:
    """One final, masked client frame (RFC 6455 5.2: a client masks every frame)."""
    size = len(payload)
    if size < 126:
        head = struct.pack("!BB", 0x80 | opcode, 0x80 | size)
    elif size < 1 << 16:
        head = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, size)
    else:
        head = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, size)
    mask = os.urandom(4)
    repeated = (mask * (size // 4 + 1))[:size]
    masked = (int.from_bytes(payload, "big") ^ int.from_bytes(repeated, "big")).to_bytes(size, "big")
    return head + mask + masked


async def read_frame(reader: asyncio.StreamReader) -> tuple[bool, int, bytes]:
    """(final, opcode, payload) of the server's next frame (unmasked, as servers send them)."""
    first, second = await reader.readexactly(2)
    size = second & 0x7F
    if size == 126:
        (size,) = struct.unpack("!H", await reader.readexactly(2))
    elif size == 127:
        (size,) = struct.unpack("!Q", await reader.readexactly(8))
    mask = await reader.readexactly(4) if second & 0x80 else b""
    payload = await reader.readexactly(size)
    if mask:
        repeated = (mask * (size // 4 + 1))[:size]
        payload = (int.from_bytes(payload, "big") ^ int.from_bytes(repeated, "big")).to_bytes(size, "big")
    return bool(first & 0x80), first & 0x0F, payload


async def _local_to_ws(local_r: asyncio.StreamReader, ws_w: asyncio.StreamWriter) -> None:
    """The local client's bytes as channel-0 messages; its EOF ends the WebSocket (the protocol has
    no half-close: the API server then closes the pod connection)."""
    while data := await local_r.read(CHUNK):
        ws_w.write(frame(0x2, b"\x00" + data))
        await ws_w.drain()
    ws_w.write(frame(0x8, struct.pack("!H", 1000)))
    await ws_w.drain()


async def _ws_to_local(
    ws_r: asyncio.StreamReader, ws_w: asyncio.StreamWriter, local_w: asyncio.StreamWriter
) -> None:
    """Channel 0 to the local client until the WebSocket closes; an error on channel 1 ends it."""
    seen: set[int] = set()  # the channels whose port prefix has passed
    message = b""
    while True:
        final, opcode, payload = await read_frame(ws_r)
        if opcode == 0x8:
            return
        if opcode == 0x9:
            ws_w.write(frame(0xA, payload))
            continue
        if opcode not in (0x0, 0x2):
            continue  # pong, text (base64 protocols are not asked for)
        message += payload
        if not final:
            continue
        whole, message = message, b""
        if not whole:
            continue
        channel, data = whole[0], whole[1:]
        if channel not in seen:
            seen.add(channel)
            data = data[2:]  # the port this channel serves
            if not data:
                continue
        if channel == 0:
            local_w.write(data)
            await local_w.drain()
        elif channel == 1:
            return  # "error forwarding port ...": nothing more comes on this connection
