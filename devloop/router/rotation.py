"""Which instance takes the next request: each app's backends, holds, pauses and drains, without sockets.

Providers put an instance in rotation once it is healthy and take it out before they
stop it; the router asks `pick` for each request. Every decision takes the clock as
an argument, so the rules are unit-tested without an event loop or a listener.
"""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass, field

RETRY_FOR_S = 5.0  # how long a request waits for an instance to take it (a restart, a replace)
FAILED_FOR_S = 1.0  # an instance that refused a connection is tried last for this long

Address = tuple[str, int]  # (host, port)
Listed = tuple[str, int, str]  # (host, port, instance), as providers hand them over


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
    def key(self) -> Address:
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
class Rotation:
    """One app's backends in turn, and whether requests wait while it has none."""

    backends: list[Backend] = field(default_factory=list)
    turn: itertools.count[int] = field(default_factory=itertools.count)
    held_until: float = 0.0  # no instance in rotation, but some are coming back: requests wait

    def listed(self) -> list[Listed]:
        return [(b.host, b.port, b.instance) for b in self.backends]

    def find(self, address: Address) -> Backend | None:
        return next((b for b in self.backends if b.key == address), None)

    def replace(self, wanted: list[Backend]) -> list[Backend]:
        """Rotate over exactly `wanted` (ends a hold); return the backends taken out."""
        removed = [b for b in self.backends if b not in wanted]
        self.backends = wanted
        self.held_until = 0.0
        return removed

    def serves(self, now: float, deadline: float) -> bool:
        """A request may still be answered by an instance: one is in rotation, or a hold runs."""
        return bool(self.backends) or now < min(self.held_until, deadline)

    def pick(self, now: float) -> Backend | None:
        """The next backend in turn, preferring those that did not just refuse a connection.

        None when every backend is paused (or none is left): the request waits for one.
        """
        backends = self.backends
        if not backends:
            return None
        if len(backends) == 1:
            return None if backends[0].paused else backends[0]
        start = next(self.turn)
        fallback = None
        for offset in range(len(backends)):
            backend = backends[(start + offset) % len(backends)]
            if backend.paused:
                continue
            if now - backend.failed_at > FAILED_FOR_S:
                return backend
            fallback = fallback or backend
        return fallback


class Backends:
    """Every backend by address, shared by all apps: one connection pool and count per instance."""

    def __init__(self) -> None:
        self._by_address: dict[Address, Backend] = {}

    def take(self, host: str, port: int, instance: str) -> Backend:
        """The live backend at host:port (named `instance` from now on), or a new one."""
        backend = self._by_address.get((host, port))
        if backend is None or backend.retired:
            backend = self._by_address[(host, port)] = Backend(host, port, instance)
        backend.instance = instance
        return backend

    def retire(self, backend: Backend) -> None:
        """Out of every rotation: its kept-alive connections close, in-flight requests finish."""
        backend.retired = True
        backend.close_idle()
        if self._by_address.get(backend.key) is backend:
            del self._by_address[backend.key]

    def close(self) -> None:
        for backend in self._by_address.values():
            backend.close_idle()
        self._by_address.clear()


def set_backends(rotation: Rotation, backends: Backends, addresses: list[Listed]) -> list[Backend]:
    """Put exactly these (host, port, instance) in `rotation`; retire and return the ones taken out."""
    removed = rotation.replace([backends.take(host, port, instance) for host, port, instance in addresses])
    for backend in removed:
        backends.retire(backend)
    return removed


async def drain(backends: list[Backend], timeout: float) -> bool:
    """Wait until none of `backends` has a request in flight; False if `timeout` ran out."""
    try:
        async with asyncio.timeout(timeout):
            for backend in backends:
                await backend.quiet()
    except TimeoutError:
        return False
    return True
