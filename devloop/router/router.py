"""The HTTP router: one stable URL per app in front of all its healthy instances.

Like Cloud Foundry's gorouter, on 127.0.0.1 only: each request (not each
connection) goes to the next instance in rotation, so a keep-alive client is
spread over every instance and a redeploy never strands it. Providers put an
instance in rotation once it is healthy and take it out with `drain` before
they stop it: in-flight requests finish first. A request that no instance can
take gets a 503 page naming what the app is doing, never a refused connection.

HTTP/1.1 is forwarded as bytes with only the framing parsed (Content-Length,
chunked, read-until-close), so streaming responses flow as they are written and
an `Upgrade` (WebSocket) becomes a plain two-way tunnel after the 101.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

from devloop.core.routes import (
    Route,
    RouteTable,
    access_line,
    bad_gateway_page,
    dedicated_port,
    routes_for,
    unavailable_page,
    unknown_route_page,
)
from devloop.core.spec import DEFAULT_ROUTER_PORT, AppSpec
from devloop.router.net import close_writer, free_port

HEAD_LIMIT = 64 * 1024  # request or response head; larger gets 431 / 502
RETRY_BODY_LIMIT = 1024 * 1024  # bodies up to this are read first, so a refused request can go elsewhere
RETRY_FOR_S = 5.0  # how long a request waits for an instance to take it (a restart, a replace)
RETRY_DELAYS_S = (0.0, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5)
FAILED_FOR_S = 1.0  # an instance that refused a connection is tried last for this long
IDLE_PER_BACKEND = 64  # kept-alive connections per instance
IDEMPOTENT = frozenset({b"GET", b"HEAD", b"OPTIONS", b"PUT", b"DELETE", b"TRACE"})
NO_BODY_STATUS = frozenset({204, 304})

AccessSink = Callable[[str, str], None]  # (app, line)
StateOf = Callable[[str], str]  # app -> what it is doing, for the 503 page


class BadRequest(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass(eq=False)
class Backend:
    """One instance in an app's rotation."""

    host: str
    port: int
    instance: str  # shown in access lines: the instance index
    in_flight: int = 0
    failed_at: float = 0.0
    paused: bool = False  # out of rotation for a moment (a restart), requests wait for it
    retired: bool = False
    idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = field(default_factory=list)
    _quiet: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def key(self) -> tuple[str, int]:
        return self.host, self.port

    def begin(self) -> None:
        self.in_flight += 1
        self._quiet.clear()

    def end(self) -> None:
        self.in_flight -= 1
        if self.in_flight == 0:
            self._quiet.set()

    async def quiet(self) -> None:
        if self.in_flight:
            await self._quiet.wait()

    def close_idle(self) -> None:
        for _reader, writer in self.idle:
            writer.close()
        self.idle.clear()


@dataclass
class _AppRoutes:
    name: str
    routes: tuple[Route, ...]
    backends: list[Backend] = field(default_factory=list)
    turn: itertools.count[int] = field(default_factory=itertools.count)
    dedicated: asyncio.Server | None = None
    dedicated_port: int | None = None
    held_until: float = 0.0  # no instance in rotation, but some are coming back: requests wait


@dataclass
class _Request:
    method: bytes
    target: bytes
    version: bytes
    head: bytes  # as forwarded upstream
    host: str
    body_length: int | None  # None: chunked
    keep_alive: bool
    upgrade: bool
    expect_continue: bool


class Router:
    """Routes by Host header on the shared port, and per app on its dedicated port."""

    def __init__(self, shared_port: int = DEFAULT_ROUTER_PORT) -> None:
        self.preferred_port = shared_port
        self.port: int | None = None
        self.table = RouteTable()
        self.apps: dict[str, _AppRoutes] = {}
        self.on_access: AccessSink | None = None
        self.on_notice: AccessSink | None = None  # (app, text): rotation changes worth saying
        self.state_of: StateOf = lambda _app: "starting"
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()
        self._backends: dict[tuple[str, int], Backend] = {}
        self.waiting = 0  # requests held until a paused instance is back
        self._setting_up = asyncio.Lock()

    # --- set-up, by providers -----------------------------------------------------------------------

    async def ensure(self, app: AppSpec) -> str | None:
        """Route `app` (once); start the shared listener first. A notice if a port was taken."""
        async with self._setting_up:  # deploys run in parallel: one shared listener, made once
            return await self._ensure(app)

    async def _ensure(self, app: AppSpec) -> str | None:
        notices = []
        if self._server is None:
            self.port, self._server = await _listen(self.preferred_port, self._handle_shared)
            if self.port != self.preferred_port:
                taken = self.preferred_port
                notices.append(f"port {taken} on 127.0.0.1 is in use; the router is on {self.port}")
        if app.no_route or app.name in self.apps:
            return "; ".join(notices) or None
        entry = self.apps[app.name] = _AppRoutes(app.name, routes_for(app))
        self.table.set_app(app.name, entry.routes)
        wanted = dedicated_port(app)
        if wanted is not None:

            async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
                await self._handle(reader, writer, app.name)

            entry.dedicated_port, entry.dedicated = await _listen(wanted, handle)
            if entry.dedicated_port != wanted:
                notices.append(f"port {wanted} on 127.0.0.1 is in use; {app.name} has {entry.dedicated_port}")
            notices.append(f"{app.name} also answers on http://127.0.0.1:{entry.dedicated_port}")
        return "; ".join(notices) or None

    def url(self, app: AppSpec) -> str | None:
        entry = self.apps.get(app.name)
        if entry is None or self.port is None:
            return None
        if entry.routes:
            return entry.routes[0].url(self.port)
        return f"http://127.0.0.1:{entry.dedicated_port}" if entry.dedicated_port else None

    def urls(self, app: AppSpec) -> list[str]:
        """Every address the app answers on: its routes, then its dedicated port."""
        entry = self.apps.get(app.name)
        if entry is None or self.port is None:
            return []
        found = [route.url(self.port) for route in entry.routes]
        return found + ([f"http://127.0.0.1:{entry.dedicated_port}"] if entry.dedicated_port else [])

    def notice(self, app: str, text: str) -> None:
        if self.on_notice is not None:
            self.on_notice(app, text)

    def backends(self, app: str) -> list[tuple[str, int, str]]:
        """The (host, port, instance) in the app's rotation, as `set_backends` takes them."""
        entry = self.apps.get(app)
        return [(b.host, b.port, b.instance) for b in entry.backends] if entry else []

    def set_backends(self, app: str, addresses: list[tuple[str, int, str]]) -> list[Backend]:
        """Put exactly these (host, port, instance) in rotation; return the ones taken out.

        A backend taken out finishes its in-flight requests; `drain` waits for them.
        """
        entry = self.apps.get(app)
        if entry is None:
            return []
        wanted = []
        for host, port, instance in addresses:
            backend = self._backends.get((host, port))
            if backend is None or backend.retired:
                backend = self._backends[(host, port)] = Backend(host, port, instance)
            backend.instance = instance
            wanted.append(backend)
        removed = [b for b in entry.backends if b not in wanted]
        entry.backends = wanted
        entry.held_until = 0.0
        for backend in removed:
            self._retire(backend)
        return removed

    def hold(self, app: str) -> None:
        """Take every instance out of rotation while they come back (restarts by the platform):
        requests wait for one to be added, up to RETRY_FOR_S, then get the 503 page. A hold ends
        when an instance is added, or RETRY_FOR_S after it began (a crash loop: 503 at once)."""
        entry = self.apps.get(app)
        if entry is not None:
            self.set_backends(app, [])
            entry.held_until = asyncio.get_running_loop().time() + RETRY_FOR_S

    def add_backend(
        self, app: str, host: str, port: int, instance: str, keep: set[tuple[str, int]] | None = None
    ) -> None:
        """Put one more instance in rotation (the others stay, or only those at `keep` addresses)."""
        kept = [b for b in self.backends(app) if keep is None or b[:2] in keep]
        self.set_backends(app, [*kept, (host, port, instance)])

    def remove_backend(self, app: str, address: tuple[str, int]) -> None:
        """Take one instance out of rotation (its in-flight requests finish)."""
        self.set_backends(app, [b for b in self.backends(app) if b[:2] != address])

    def _retire(self, backend: Backend) -> None:
        backend.retired = True
        backend.close_idle()
        if self._backends.get(backend.key) is backend:
            del self._backends[backend.key]

    async def drain(self, backends: list[Backend], timeout: float) -> bool:
        """Wait until none of `backends` has a request in flight; False if `timeout` ran out."""
        try:
            async with asyncio.timeout(timeout):
                for backend in backends:
                    await backend.quiet()
        except TimeoutError:
            return False
        return True

    async def pause(self, app: str, address: tuple[str, int], timeout: float) -> None:
        """Send no new requests to one instance and wait for its in-flight ones (before a restart).

        New requests go to the others; with none left they wait for it (up to RETRY_FOR_S)
        instead of failing. `resume` puts it back.
        """
        entry = self.apps.get(app)
        backend = next((b for b in entry.backends if b.key == address), None) if entry else None
        if backend is None:
            return
        backend.paused = True
        backend.close_idle()
        await self.drain([backend], timeout)

    @contextlib.asynccontextmanager
    async def paused(self, app: str, address: tuple[str, int] | None, timeout: float) -> AsyncIterator[None]:
        """`pause` for the duration of the block (a restart), then `resume`."""
        if address is not None:
            await self.pause(app, address, timeout)
        try:
            yield
        finally:
            if address is not None:
                self.resume(app, address)

    def resume(self, app: str, address: tuple[str, int]) -> None:
        entry = self.apps.get(app)
        for backend in entry.backends if entry else []:
            if backend.key == address:
                backend.paused = False

    async def close(self) -> None:
        servers = [self._server] + [e.dedicated for e in self.apps.values()]
        for server in servers:
            if server is not None:
                server.close()
        for task in list(self._connections):
            task.cancel()
        for server in servers:
            if server is not None:
                with contextlib.suppress(Exception):
                    await server.wait_closed()
        for backend in list(self._backends.values()):
            backend.close_idle()
        self._server = None
        self.apps.clear()
        self._backends.clear()

    # --- serving ------------------------------------------------------------------------------------

    async def _handle_shared(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await self._handle(reader, writer, None)

    async def _handle(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, only_app: str | None
    ) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        peer = writer.get_extra_info("peername")
        client = peer[0] if isinstance(peer, tuple) else "127.0.0.1"
        try:
            while True:
                try:
                    request = await _read_request(reader, client)
                except BadRequest as exc:
                    writer.write(_error_response(exc.status, exc.reason))
                    return
                if request is None:
                    return
                app = only_app or self.table.lookup(request.host, request.target.decode("latin-1"))
                if app is None:
                    known = [route.url(self.port or 0) for route, _app in self.table.routes()]
                    await _discard_body(reader, request)
                    writer.write(unknown_route_page(request.host, sorted(known)))
                    await writer.drain()
                    if not request.keep_alive:
                        return
                    continue
                if not await self._forward(app, request, reader, writer):
                    return
        except (ConnectionError, asyncio.IncompleteReadError, OSError):
            pass
        finally:
            self._connections.discard(task)
            await close_writer(writer)

    async def _forward(
        self,
        app: str,
        request: _Request,
        client_r: asyncio.StreamReader,
        client_w: asyncio.StreamWriter,
    ) -> bool:
        """Send one request to an instance and its response back; True if the client stays."""
        started = time.perf_counter()
        body = b""
        if request.expect_continue and request.body_length != 0:
            client_w.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        if request.body_length is not None and 0 < request.body_length <= RETRY_BODY_LIMIT:
            body = await client_r.readexactly(request.body_length)
        streamed_body = request.body_length is None or request.body_length > RETRY_BODY_LIMIT
        loop = asyncio.get_running_loop()
        deadline = loop.time() + RETRY_FOR_S
        attempt = 0
        reason = "no instance in rotation"
        backend: Backend | None = None
        while True:
            entry = self.apps.get(app)
            held = entry is not None and loop.time() < min(entry.held_until, deadline)
            if (entry is None or not entry.backends) and not held:
                page = unavailable_page(app, self.state_of(app))
                await self._refuse(app, request, client_r, client_w, page)
                self._log(app, request, 503, started, "-")
                return request.keep_alive
            backend = self._pick(entry) if entry is not None and entry.backends else None
            if backend is None:
                self.waiting += 1  # a request held for a paused instance (shown by tests, status)
                try:
                    await asyncio.sleep(RETRY_DELAYS_S[min(attempt, len(RETRY_DELAYS_S) - 1)])
                finally:
                    self.waiting -= 1
            else:
                backend.begin()
                try:
                    outcome = await self._exchange(
                        app, backend, request, body, streamed_body, client_r, client_w
                    )
                finally:
                    backend.end()
                if outcome is not None:
                    status, sent, keep = outcome
                    self._log(app, request, status, started, backend.instance, sent)
                    return keep
                backend.failed_at = loop.time()
                reason = "connection refused or closed before an answer"
            attempt += 1
            if loop.time() >= deadline:
                if backend is None:  # still restarting: unavailable, as with no instance at all
                    status, page = 503, unavailable_page(app, self.state_of(app))
                else:  # every instance refused for the whole hold: none can serve
                    status, page = 503, unavailable_page(app, f"{self.state_of(app)} ({reason})")
                await self._refuse(app, request, client_r, client_w, page)
                self._log(app, request, status, started, "-")
                return request.keep_alive
            entry = self.apps.get(app)
            if backend is not None and (entry is None or attempt % max(1, len(entry.backends)) == 0):
                await asyncio.sleep(RETRY_DELAYS_S[min(attempt // 2, len(RETRY_DELAYS_S) - 1)])

    def _pick(self, entry: _AppRoutes) -> Backend | None:
        """The next backend in turn, preferring those that did not just refuse a connection.

        None when every backend is paused: the request waits for one to come back.
        """
        backends = entry.backends
        if len(backends) == 1:
            return None if backends[0].paused else backends[0]
        now = asyncio.get_running_loop().time()
        start = next(entry.turn)
        fallback = None
        for offset in range(len(backends)):
            backend = backends[(start + offset) % len(backends)]
            if backend.paused:
                continue
            if now - backend.failed_at > FAILED_FOR_S:
                return backend
            fallback = fallback or backend
        return fallback

    async def _refuse(
        self,
        app: str,
        request: _Request,
        client_r: asyncio.StreamReader,
        client_w: asyncio.StreamWriter,
        response: bytes,
    ) -> None:
        if request.body_length is None or request.body_length > RETRY_BODY_LIMIT:
            await _discard_body(client_r, request)
        client_w.write(response)
        await client_w.drain()

    async def _exchange(
        self,
        app: str,
        backend: Backend,
        request: _Request,
        body: bytes,
        streamed_body: bool,
        client_r: asyncio.StreamReader,
        client_w: asyncio.StreamWriter,
    ) -> tuple[int, int, bool] | None:
        """(status, bytes sent, client keeps the connection), or None: nothing sent, try elsewhere."""
        try:
            up_r, up_w = await self._connect(backend)
        except OSError:
            return None
        reusable = False
        responded = False
        retryable = not streamed_body and request.method in IDEMPOTENT
        try:
            up_w.write(request.head + body if body else request.head)
            if streamed_body:
                await _copy_body(client_r, up_w, request.body_length)
            await up_w.drain()
            try:
                head = await up_r.readuntil(b"\r\n\r\n")
            except (asyncio.IncompleteReadError, ConnectionError) as exc:
                partial = isinstance(exc, asyncio.IncompleteReadError) and exc.partial
                if retryable and not partial:
                    return None  # closed before answering (a stale kept-alive connection, a restart)
                raise
            while True:
                status = _status_of(head)
                responded = True
                if status == 101 and request.upgrade:
                    client_w.write(head)
                    await client_w.drain()
                    await _tunnel(client_r, client_w, up_r, up_w)
                    return 101, len(head), False
                if 100 <= status < 200:  # 100 Continue, 103 Early Hints: pass on, then the real one
                    client_w.write(head)
                    head = await up_r.readuntil(b"\r\n\r\n")
                    continue
                break
            length, chunked, upstream_close = _response_framing(head)
            client_w.write(head)
            sent = len(head)
            if request.method == b"HEAD" or status in NO_BODY_STATUS:
                pass
            elif chunked:
                sent += await _copy_chunked(up_r, client_w)
            elif length is not None:
                sent += await _copy_exact(up_r, client_w, length)
            else:
                sent += await _copy_until_close(up_r, client_w)
                upstream_close = True
            await client_w.drain()
            reusable = not upstream_close
            keep = request.keep_alive and not upstream_close
            return status, sent, keep
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError, ValueError) as exc:
            if responded:  # the instance failed mid-answer: nothing sensible can follow on this connection
                raise ConnectionError("instance failed mid-answer") from None
            # Not retried (it may have had effects): the client hears why, the connection closes.
            unreadable = isinstance(exc, (asyncio.LimitOverrunError, ValueError))
            reason = "an unreadable response" if unreadable else "it closed the connection without an answer"
            page = bad_gateway_page(app, f"instance {backend.instance} sent {reason}")
            client_w.write(page)
            return 502, len(page), False
        finally:
            if reusable and not backend.retired and len(backend.idle) < IDLE_PER_BACKEND:
                backend.idle.append((up_r, up_w))
            else:
                up_w.close()

    async def _connect(self, backend: Backend) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        while backend.idle:
            reader, writer = backend.idle.pop()
            if not reader.at_eof() and not writer.is_closing():
                return reader, writer
            writer.close()
        return await asyncio.open_connection(backend.host, backend.port, limit=HEAD_LIMIT)

    def _log(
        self, app: str, request: _Request, status: int, started: float, instance: str, sent: int = 0
    ) -> None:
        if self.on_access is None:
            return
        self.on_access(
            app,
            access_line(
                request.host,
                b" ".join((request.method, request.target, request.version)).decode("latin-1"),
                status,
                sent,
                time.perf_counter() - started,
                instance,
            ),
        )


# --- HTTP/1.1 framing -------------------------------------------------------------------------------


async def _listen(
    preferred: int, handler: Callable[[asyncio.StreamReader, asyncio.StreamWriter], object]
) -> tuple[int, asyncio.Server]:
    for _ in range(5):
        port = free_port(preferred)
        try:
            server = await asyncio.start_server(handler, "127.0.0.1", port, limit=HEAD_LIMIT)  # type: ignore[arg-type]
        except OSError:
            continue  # taken between the probe and the bind
        return port, server
    raise OSError(f"no free port near {preferred} on 127.0.0.1")


async def _read_request(reader: asyncio.StreamReader, client: str) -> _Request | None:
    """The next request's head, or None when the client closed between requests."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        if exc.partial.strip():
            raise BadRequest(400, "Bad Request") from None
        return None
    except asyncio.LimitOverrunError:
        raise BadRequest(431, "Request Header Fields Too Large") from None
    lines = head[:-4].split(b"\r\n")
    while lines and not lines[0]:
        lines.pop(0)  # stray CRLF between requests (RFC 9112 2.2)
    if not lines:
        return None
    parts = lines[0].split(b" ")
    if len(parts) != 3 or not parts[2].startswith(b"HTTP/1."):
        raise BadRequest(400, "Bad Request")
    method, target, version = parts
    host = ""
    length: int | None = 0
    chunked = False
    connection = b""
    upgrade = False
    expect_continue = False
    has_length = False
    kept: list[bytes] = [lines[0]]
    for line in lines[1:]:
        name, sep, value = line.partition(b":")
        if not sep:
            raise BadRequest(400, "Bad Request")
        lname = name.strip().lower()
        value = value.strip()
        if lname == b"host":
            host = value.decode("latin-1")
        elif lname == b"content-length":
            if has_length or not value.isdigit():
                raise BadRequest(400, "Bad Request")
            has_length, length = True, int(value)
        elif lname == b"transfer-encoding":
            chunked = value.lower().endswith(b"chunked")
            if not chunked:
                raise BadRequest(501, "Not Implemented")
        elif lname == b"connection":
            connection = value.lower()
        elif lname == b"upgrade":
            upgrade = True
        elif lname == b"expect" and value.lower() == b"100-continue":
            expect_continue = True
            continue  # the router answers it itself, then reads the body
        elif lname.startswith(b"x-forwarded-"):
            continue  # the router sets these; a client cannot
        kept.append(line)
    if chunked and has_length:
        raise BadRequest(400, "Bad Request")  # both framings: a smuggling attempt (RFC 9112 6.1)
    http11 = version == b"HTTP/1.1"
    keep_alive = b"close" not in connection if http11 else b"keep-alive" in connection
    kept.append(b"X-Forwarded-For: " + client.encode())
    kept.append(b"X-Forwarded-Proto: http")
    if host:
        kept.append(b"X-Forwarded-Host: " + host.encode("latin-1"))
    return _Request(
        method=method,
        target=target,
        version=version,
        head=b"\r\n".join(kept) + b"\r\n\r\n",
        host=host,
        body_length=None if chunked else length,
        keep_alive=keep_alive,
        upgrade=upgrade and b"upgrade" in connection,
        expect_continue=expect_continue,
    )


def _status_of(head: bytes) -> int:
    parts = head.split(b" ", 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or not parts[1].isdigit():
        raise ValueError("not an HTTP/1.x response")
    return int(parts[1])


def _response_framing(head: bytes) -> tuple[int | None, bool, bool]:
    """(content length, chunked, connection: close) of a response head."""
    length: int | None = None
    chunked = False
    close = head.startswith(b"HTTP/1.0")
    for line in head[:-4].split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        lname = name.strip().lower()
        if lname == b"content-length":
            length = int(value.strip())
        elif lname == b"transfer-encoding":
            chunked = value.strip().lower().endswith(b"chunked")
        elif lname == b"connection":
            token = value.strip().lower()
            close = b"close" in token or (close and b"keep-alive" not in token)
    return (None if chunked else length), chunked, close


async def _copy_exact(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, length: int) -> int:
    remaining = length
    while remaining:
        data = await reader.read(min(remaining, 256 * 1024))
        if not data:
            raise asyncio.IncompleteReadError(b"", remaining)
        writer.write(data)
        remaining -= len(data)
        await writer.drain()
    return length


async def _copy_chunked(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> int:
    """Pass a chunked body on as it comes, chunk by chunk (server-sent events stay live)."""
    sent = 0
    while True:
        size_line = await reader.readuntil(b"\r\n")
        size = int(size_line.split(b";", 1)[0].strip(), 16)
        writer.write(size_line)
        sent += len(size_line)
        if size == 0:
            while True:  # trailers, up to the empty line
                trailer = await reader.readuntil(b"\r\n")
                writer.write(trailer)
                sent += len(trailer)
                if trailer == b"\r\n":
                    await writer.drain()
                    return sent
        sent += await _copy_exact(reader, writer, size + 2)


async def _copy_until_close(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> int:
    sent = 0
    while data := await reader.read(256 * 1024):
        writer.write(data)
        sent += len(data)
        await writer.drain()
    return sent


async def _copy_body(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, length: int | None) -> None:
    if length is None:
        await _copy_chunked(reader, writer)
    else:
        await _copy_exact(reader, writer, length)


async def _discard_body(reader: asyncio.StreamReader, request: _Request) -> None:
    """Read past a body the router answers itself, so the next request parses."""
    sink = _NullWriter()
    await _copy_body(reader, sink, request.body_length)  # type: ignore[arg-type]


class _NullWriter:
    def write(self, _data: bytes) -> None:
        pass

    async def drain(self) -> None:
        pass


async def _tunnel(
    client_r: asyncio.StreamReader,
    client_w: asyncio.StreamWriter,
    up_r: asyncio.StreamReader,
    up_w: asyncio.StreamWriter,
) -> None:
    """After a 101: bytes both ways until either side closes (WebSocket frames pass untouched)."""

    async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, OSError):
            while data := await src.read(256 * 1024):
                dst.write(data)
                await dst.drain()
        with contextlib.suppress(OSError):
            if dst.can_write_eof():
                dst.write_eof()

    both = [asyncio.create_task(pump(client_r, up_w)), asyncio.create_task(pump(up_r, client_w))]
    try:
        await asyncio.wait(both, return_when=asyncio.FIRST_COMPLETED)
        # One side closed: give the other a moment to finish its close handshake, then end both.
        await asyncio.wait(both, timeout=1.0)
    finally:
        for task in both:
            task.cancel()
        await asyncio.gather(*both, return_exceptions=True)


def _error_response(status: int, reason: str) -> bytes:
    body = f"{status} {reason}\n".encode()
    return (
        f"HTTP/1.1 {status} {reason}\r\nContent-Type: text/plain\r\nContent-Length: {len(body)}\r\n"
        "Connection: close\r\n\r\n"
    ).encode() + body
