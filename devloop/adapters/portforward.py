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
one asyncio TLS stream (the TLS of the event loop, not anyio's) with wsproto's
sans-IO client on it: h11 for the upgrade, its RFC 6455 codec for the frames;
the same load costs devloop less than half of that (scripts/bench/portforward.py).

Connections in flight are bounded (MAX_FORWARDS across the client): past it a
new one waits SLOT_WAIT_S for a slot, then is closed unanswered, which the
router answers with another instance or its 503 page, never a hang. A WebSocket
that cannot be opened (the pod is gone, the port refused) closes the local
connection the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import ssl
import urllib.parse
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from wsproto import ConnectionType, WSConnection
from wsproto.connection import ConnectionState
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Event,
    Ping,
    RejectConnection,
    RejectData,
    Request,
)
from wsproto.utilities import ProtocolError

MAX_FORWARDS = 512  # WebSockets open at once across every pod (each holds a connection to its pod)
SLOT_WAIT_S = 2.0  # how long a new connection waits for a slot before it is closed unanswered
CONNECT_S = 10.0  # TCP, TLS and the upgrade's answer
CLOSE_S = 5.0  # how long the API server has to answer our close before the connection is dropped
CHUNK = 64 * 1024
PROTOCOL = "v4.channel.k8s.io"


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
        except (OSError, UpgradeRefused, ProtocolError, ValueError):
            pass  # the pod or the API server went away (or broke the protocol): the local connection
            # closes, the router retries
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
                ws = await self._open(await self._endpoint())
            except UpgradeRefused as refused:
                if refused.status != 401:
                    raise
                await self._reauthenticate()  # an expired token (exec plugins, bound tokens)
                ws = await self._open(await self._endpoint())
        up = asyncio.create_task(_local_to_ws(local_r, ws))
        down = asyncio.create_task(_ws_to_local(ws, local_w))
        try:
            await asyncio.wait((up, down), return_when=asyncio.FIRST_COMPLETED)
            if not down.done():  # the local client is done: the API server answers the close at once
                await asyncio.wait((down,), timeout=CLOSE_S)
        finally:
            for task in (up, down):
                task.cancel()
            await asyncio.gather(up, down, return_exceptions=True)
            ws.writer.close()

    async def _open(self, endpoint: Endpoint) -> _WebSocket:
        """The upgraded connection, after the API server's 101 (wsproto checks the accept key)."""
        parts = urllib.parse.urlsplit(endpoint.url)
        secure = parts.scheme == "https"
        host = parts.hostname or "localhost"
        port = parts.port or (443 if secure else 80)
        reader, writer = await asyncio.open_connection(
            host, port, limit=CHUNK * 2, ssl=endpoint.ssl_context if secure else None,
            server_hostname=(endpoint.server_hostname or host) if secure else None,
        )  # fmt: skip
        try:
            ws = WSConnection(ConnectionType.CLIENT)
            headers = [(name.encode(), value.encode()) for name, value in endpoint.headers]
            target = f"{parts.path.rstrip('/')}{self.path}"
            request = Request(parts.netloc, target, subprotocols=[PROTOCOL], extra_headers=headers)
            writer.write(ws.send(request))
            refused: RejectConnection | None = None
            body = bytearray()
            while True:
                data = await reader.read(CHUNK)
                ws.receive_data(data or None)
                for event in ws.events():
                    if isinstance(event, AcceptConnection):
                        return _WebSocket(ws, reader, writer)
                    if isinstance(event, RejectConnection):
                        refused = event
                        if not event.has_body:
                            raise UpgradeRefused(event.status_code, "no message")
                    elif isinstance(event, RejectData) and refused is not None:
                        body += event.data
                        if event.body_finished or len(body) >= CHUNK:
                            raise UpgradeRefused(refused.status_code, _status_message(bytes(body)))
                if not data:
                    raise ConnectionResetError("the API server closed the connection during the upgrade")
        except BaseException:
            writer.close()
            raise


class _WebSocket:
    """One upgraded connection: wsproto's state machine between the asyncio stream and the relay."""

    def __init__(self, ws: WSConnection, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.ws = ws
        self.reader = reader
        self.writer = writer
        self._backlog = list(ws.events())  # frames that came in the same read as the 101

    @property
    def open(self) -> bool:
        return self.ws.state is ConnectionState.OPEN

    def send(self, event: Event) -> None:
        self.writer.write(self.ws.send(event))

    async def events(self) -> list[Event]:
        """The events of the API server's next bytes (a CloseConnection, code 1006, at its EOF)."""
        if self._backlog:
            backlog, self._backlog = self._backlog, []
            return backlog
        data = await self.reader.read(CHUNK)
        self.ws.receive_data(data or None)
        return list(self.ws.events())


def _status_message(body: bytes) -> str:
    """The message of the Status body a refused upgrade carries, if it has one."""
    try:
        return str(json.loads(body).get("message") or body[:200].decode(errors="replace"))
    except (ValueError, AttributeError):
        return "no message"


async def _local_to_ws(local_r: asyncio.StreamReader, ws: _WebSocket) -> None:
    """The local client's bytes as channel-0 messages; its EOF ends the WebSocket (the protocol has
    no half-close: the API server then closes the pod connection)."""
    while data := await local_r.read(CHUNK):
        if not ws.open:
            return  # the API server is closing: the other direction ends the relay
        ws.send(BytesMessage(b"\x00" + data))
        await ws.writer.drain()
    if ws.open:
        ws.send(CloseConnection(1000))
        await ws.writer.drain()


async def _ws_to_local(ws: _WebSocket, local_w: asyncio.StreamWriter) -> None:
    """Channel 0 to the local client until the WebSocket closes; an error on channel 1 ends it."""
    seen: set[int] = set()  # the channels whose port prefix has passed
    pieces: list[bytes | bytearray] = []  # the message so far, when it comes in more than one event
    while True:
        for event in await ws.events():
            if isinstance(event, CloseConnection):
                if ws.ws.state is ConnectionState.REMOTE_CLOSING:
                    ws.send(event.response())
                return
            if isinstance(event, Ping):
                ws.send(event.response())
                continue
            if not isinstance(event, BytesMessage):
                continue  # pong, text (base64 protocols are not asked for)
            if not event.message_finished:
                pieces.append(event.data)
                continue
            whole = b"".join((*pieces, event.data)) if pieces else event.data
            pieces.clear()
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
            elif channel == 1:
                return  # "error forwarding port ...": nothing more comes on this connection
        await local_w.drain()
