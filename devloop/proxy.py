"""One stable loopback address per app in front of all its instances.

A TCP forwarder on 127.0.0.1: each connection goes to the next instance in
turn. Until an instance sends its first byte, the client's bytes are kept, so a
connection that an instance refuses or closes unanswered (it is restarting, or
being replaced) is retried on the next one: a rolling replace drops nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import socket

from devloop.core.spec import AppSpec
from devloop.streams import close_writer

BUFFER_LIMIT = 256 * 1024  # past this much unanswered request data, no retry is possible
RETRY_FOR_S = 5.0  # how long a request waits for some instance to answer (restarts, replaces)
RETRY_DELAY_S = (0.0, 0.0, 0.01, 0.02, 0.05, 0.1, 0.2)  # after each round of failed attempts


def free_port(preferred: int, host: str = "127.0.0.1", span: int = 100) -> int:
    """`preferred` if it can be bound, else the next free port above it."""
    for port in range(preferred, min(preferred + span, 65536)):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            # As asyncio.start_server binds: leftover TIME_WAIT connections do not block a listener.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind((host, port))
            except OSError:
                continue
            return port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class TcpProxy:
    def __init__(self, name: str) -> None:
        self.name = name
        self.backends: list[tuple[str, int]] = []
        self._turn = itertools.count()
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()
        self.port: int | None = None

    async def start(self, preferred_port: int) -> int:
        for _ in range(5):
            port = free_port(preferred_port)
            try:
                self._server = await asyncio.start_server(self._handle, "127.0.0.1", port)
            except OSError:
                continue  # taken between the probe and the bind
            self.port = port
            return port
        raise OSError(f"no free port near {preferred_port} on 127.0.0.1")

    def set_backends(self, backends: list[tuple[str, int]]) -> None:
        self.backends = list(backends)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        try:
            await self._serve(reader, writer)
        finally:
            self._connections.discard(task)
            await close_writer(writer)

    async def _serve(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        pending = bytearray()  # client bytes not yet answered, for a retry
        client_done = False
        loop = asyncio.get_running_loop()
        deadline = loop.time() + RETRY_FOR_S
        failures = 0
        while loop.time() < deadline:
            backends = self.backends
            if backends:
                host, port = backends[next(self._turn) % len(backends)]
                try:
                    up_r, up_w = await asyncio.open_connection(host, port)
                except OSError:
                    pass
                else:
                    answered, client_done = await self._pump(
                        client_r, client_w, up_r, up_w, pending, client_done
                    )
                    if answered or len(pending) > BUFFER_LIMIT:
                        return
            failures += 1
            if not backends or failures % max(1, len(backends)) == 0:
                # Every instance refused or hung up: wait a little for one to come back.
                await asyncio.sleep(
                    RETRY_DELAY_S[min(failures // max(1, len(backends)), len(RETRY_DELAY_S) - 1)]
                )

    async def _pump(
        self,
        client_r: asyncio.StreamReader,
        client_w: asyncio.StreamWriter,
        up_r: asyncio.StreamReader,
        up_w: asyncio.StreamWriter,
        pending: bytearray,
        client_done: bool,
    ) -> tuple[bool, bool]:
        """Relay both ways; (True, _) once the instance answered, (False, _) if it hung up first."""
        answered = False
        try:
            if pending:
                up_w.write(bytes(pending))
                await up_w.drain()
            if client_done:
                up_w.write_eof()

            async def upstream() -> None:
                nonlocal client_done
                while True:
                    data = await client_r.read(65536)
                    if not data:
                        client_done = True
                        with contextlib.suppress(OSError):
                            up_w.write_eof()
                        return
                    if not answered:
                        pending.extend(data)
                    up_w.write(data)
                    await up_w.drain()

            async def downstream() -> None:
                nonlocal answered
                while True:
                    data = await up_r.read(65536)
                    if not data:
                        return
                    answered = True
                    client_w.write(data)
                    await client_w.drain()

            up_task = asyncio.create_task(upstream())
            down_task = asyncio.create_task(downstream())
            try:
                await down_task
            finally:
                if not up_task.done():
                    up_task.cancel()
                    with contextlib.suppress(asyncio.CancelledError, OSError):
                        await up_task
            return answered, client_done
        except OSError:
            return answered, client_done
        finally:
            await close_writer(up_w)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            for task in list(self._connections):
                task.cancel()
            with contextlib.suppress(Exception):
                await self._server.wait_closed()
            self._server = None


class AppProxies(dict[str, TcpProxy]):
    """The loopback forwarder of each routed app, by app name: the same on both providers."""

    async def ensure(self, app: AppSpec) -> str | None:
        """Start `app`'s forwarder once, on its port or the next free one (then say so)."""
        if app.no_route or app.name in self:
            return None
        proxy = TcpProxy(app.name)
        port = await proxy.start(app.port)
        self[app.name] = proxy
        if port != app.port:
            return f"port {app.port} on 127.0.0.1 is in use; {app.name} is on {port} instead"
        return None

    def url(self, app: AppSpec) -> str | None:
        proxy = self.get(app.name)
        return f"http://127.0.0.1:{proxy.port}" if proxy and proxy.port else None

    async def close_all(self) -> None:
        for proxy in self.values():
            await proxy.close()
        self.clear()
