"""The HTTP router: one stable URL per app in front of all its healthy instances.

Like Cloud Foundry's gorouter, on 127.0.0.1 only: each request (not each
connection) goes to the next instance in rotation, so a keep-alive client is
spread over every instance and a redeploy never strands it. Providers put an
instance in rotation once it is healthy and take it out with `drain` before
they stop it: in-flight requests finish first. A request that no instance can
take gets a 503 page naming what the app is doing, never a refused connection.

This module holds the listeners, the routes and the retry loop; which instance
comes next is `rotation`'s, and how a message is framed and relayed is `http1`'s.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

from devloop.core.addresses import stable_port
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
from devloop.router import http1, rotation
from devloop.router.http1 import HEAD_LIMIT, BadRequest, Request
from devloop.router.net import close_writer, free_port, port_is_free
from devloop.router.rotation import Address, Backend, Backends, Listed, Rotation

RETRY_DELAYS_S = (0.0, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5)
IDLE_PER_BACKEND = 64  # kept-alive connections per instance

AccessSink = Callable[[str, str], None]  # (app, line)
StateOf = Callable[[str], str]  # app -> what it is doing, for the 503 page


@dataclass
class _AppRoutes:
    name: str
    routes: tuple[Route, ...]
    rotation: Rotation = field(default_factory=Rotation)
    dedicated: asyncio.Server | None = None
    dedicated_port: int | None = None


class Router:
    """Routes by Host header on the shared port, and per app on its dedicated port."""

    def __init__(self, shared_port: int = DEFAULT_ROUTER_PORT, project_id: str | None = None) -> None:
        self.preferred_port = shared_port
        self.project_id = project_id  # set: every routed app also gets a stable 127.0.0.1 port
        self.port: int | None = None
        self.table = RouteTable()
        self.apps: dict[str, _AppRoutes] = {}
        self.on_access: AccessSink | None = None
        self.on_notice: AccessSink | None = None  # (app, text): rotation changes worth saying
        self.state_of: StateOf = lambda _app: "starting"
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()
        self._backends = Backends()
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
        if wanted is None and self.project_id is not None:
            given = {self.port, *(e.dedicated_port for e in self.apps.values())}
            wanted = stable_port(self.project_id, app.name, port_is_free, avoid={p for p in given if p})
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

    def address(self, app: AppSpec) -> str | None:
        """The app's own numeric loopback URL (its dedicated port), when it has one."""
        entry = self.apps.get(app.name)
        return f"http://127.0.0.1:{entry.dedicated_port}" if entry and entry.dedicated_port else None

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

    def backends(self, app: str) -> list[Listed]:
        """The (host, port, instance) in the app's rotation, as `set_backends` takes them."""
        entry = self.apps.get(app)
        return entry.rotation.listed() if entry else []

    def set_backends(self, app: str, addresses: list[Listed]) -> list[Backend]:
        """Put exactly these (host, port, instance) in rotation; return the ones taken out.

        A backend taken out finishes its in-flight requests; `drain` waits for them.
        """
        entry = self.apps.get(app)
        if entry is None:
            return []
        return rotation.set_backends(entry.rotation, self._backends, addresses)

    def hold(self, app: str) -> None:
        """Take every instance out of rotation while they come back (restarts by the platform):
        requests wait for one to be added, up to RETRY_FOR_S, then get the 503 page. A hold ends
        when an instance is added, or RETRY_FOR_S after it began (a crash loop: 503 at once)."""
        entry = self.apps.get(app)
        if entry is not None:
            self.set_backends(app, [])
            entry.rotation.held_until = asyncio.get_running_loop().time() + rotation.RETRY_FOR_S

    def add_backend(
        self, app: str, host: str, port: int, instance: str, keep: set[Address] | None = None
    ) -> None:
        """Put one more instance in rotation (the others stay, or only those at `keep` addresses)."""
        kept = [b for b in self.backends(app) if keep is None or b[:2] in keep]
        self.set_backends(app, [*kept, (host, port, instance)])

    def remove_backend(self, app: str, address: Address) -> None:
        """Take one instance out of rotation (its in-flight requests finish)."""
        self.set_backends(app, [b for b in self.backends(app) if b[:2] != address])

    async def drain(self, backends: list[Backend], timeout: float) -> bool:
        """Wait until none of `backends` has a request in flight; False if `timeout` ran out."""
        return await rotation.drain(backends, timeout)

    async def pause(self, app: str, address: Address, timeout: float) -> None:
        """Send no new requests to one instance and wait for its in-flight ones (before a restart).

        New requests go to the others; with none left they wait for it (up to RETRY_FOR_S)
        instead of failing. `resume` puts it back.
        """
        entry = self.apps.get(app)
        backend = entry.rotation.find(address) if entry else None
        if backend is None:
            return
        backend.paused = True
        backend.close_idle()
        await rotation.drain([backend], timeout)

    @contextlib.asynccontextmanager
    async def paused(self, app: str, address: Address | None, timeout: float) -> AsyncIterator[None]:
        """`pause` for the duration of the block (a restart), then `resume`."""
        if address is not None:
            await self.pause(app, address, timeout)
        try:
            yield
        finally:
            if address is not None:
                self.resume(app, address)

    def resume(self, app: str, address: Address) -> None:
        entry = self.apps.get(app)
        for backend in entry.rotation.backends if entry else []:
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
        self._backends.close()
        self._server = None
        self.apps.clear()

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
                    request = await http1.read_request(reader, client)
                except BadRequest as exc:
                    writer.write(http1.error_response(exc.status, exc.reason))
                    return
                if request is None:
                    return
                app = only_app or self.table.lookup(request.host, request.target.decode("latin-1"))
                if app is None:
                    known = [route.url(self.port or 0) for route, _app in self.table.routes()]
                    await http1.discard_body(reader, request)
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
        request: Request,
        client_r: asyncio.StreamReader,
        client_w: asyncio.StreamWriter,
    ) -> bool:
        """Send one request to an instance and its response back; True if the client stays."""
        started = time.perf_counter()
        body = b""
        if request.expect_continue and request.body_length != 0:
            client_w.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        if not request.streamed_body and request.body_length:
            body = await client_r.readexactly(request.body_length)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + rotation.RETRY_FOR_S
        attempt = 0
        reason = "no instance in rotation"
        backend: Backend | None = None
        while True:
            entry = self.apps.get(app)
            if entry is None or not entry.rotation.serves(loop.time(), deadline):
                page = unavailable_page(app, self.state_of(app))
                await self._refuse(request, client_r, client_w, page)
                self._log(app, request, 503, started, "-")
                return request.keep_alive
            backend = entry.rotation.pick(loop.time())
            if backend is None:
                self.waiting += 1  # a request held for a paused instance (shown by tests, status)
                try:
                    await asyncio.sleep(RETRY_DELAYS_S[min(attempt, len(RETRY_DELAYS_S) - 1)])
                finally:
                    self.waiting -= 1
            else:
                backend.begin()
                try:
                    outcome = await self._exchange(app, backend, request, body, client_r, client_w)
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
                await self._refuse(request, client_r, client_w, page)
                self._log(app, request, status, started, "-")
                return request.keep_alive
            entry = self.apps.get(app)
            if backend is not None and (entry is None or attempt % max(1, len(entry.rotation.backends)) == 0):
                await asyncio.sleep(RETRY_DELAYS_S[min(attempt // 2, len(RETRY_DELAYS_S) - 1)])

    async def _refuse(
        self,
        request: Request,
        client_r: asyncio.StreamReader,
        client_w: asyncio.StreamWriter,
        response: bytes,
    ) -> None:
        if request.streamed_body:
            await http1.discard_body(client_r, request)
        client_w.write(response)
        await client_w.drain()

    async def _exchange(
        self,
        app: str,
        backend: Backend,
        request: Request,
        body: bytes,
        client_r: asyncio.StreamReader,
        client_w: asyncio.StreamWriter,
    ) -> tuple[int, int, bool] | None:
        """(status, bytes sent, client keeps the connection), or None: nothing sent, try elsewhere."""
        try:
            up_r, up_w = await self._connect(backend)
        except OSError:
            return None
        reusable = False
        try:
            status, sent, upstream_close = await http1.relay(request, body, client_r, client_w, up_r, up_w)
            reusable = not upstream_close
            return status, sent, request.keep_alive and not upstream_close
        except http1.Unanswered:
            return None
        except http1.FailedMidAnswer:
            raise
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError, ValueError) as exc:
            # Not retried (it may have had effects): the client hears why, the connection closes.
            unreadable = isinstance(exc, (asyncio.LimitOverrunError, ValueError))
            why = "an unreadable response" if unreadable else "it closed the connection without an answer"
            page = bad_gateway_page(app, f"instance {backend.instance} sent {why}")
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
        self, app: str, request: Request, status: int, started: float, instance: str, sent: int = 0
    ) -> None:
        if self.on_access is None:
            return
        self.on_access(
            app,
            access_line(
                request.host,
                request.line,
                status,
                sent,
                time.perf_counter() - started,
                instance,
            ),
        )


# --- listeners -------------------------------------------------------------------------------


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
