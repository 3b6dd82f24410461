"""Each debugged instance's debug port on a stable 127.0.0.1 port, the same across rebuilds.

A new version starts beside the old one, so the two cannot publish the same host port; instead
devloop listens on the instance's stable port (core.debug.debug_port) and forwards each connection
to the newest running instance with that index, wherever its debug port is published (Docker) or
port-forwarded (kind). A rebuild replaces the instance behind the port: the IDE reattaches to the
same address. Both providers feed it the instance statuses they report.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field, replace

from devloop.core import debug
from devloop.core.events import InstancesChanged, InstanceStatus
from devloop.router.net import close_writer, port_is_free

CHUNK = 64 * 1024


@dataclass
class _Port:
    port: int
    server: asyncio.Server | None = None
    targets: dict[str, str] = field(default_factory=dict)  # instance id -> host:port, newest last


class DebugPorts:
    """The stable debug listeners of one project's instances, keyed `app/instance` (`web/0`)."""

    def __init__(self, project_id: str) -> None:
        self.project_id = project_id
        self._ports: dict[str, _Port] = {}
        self._said: list[str] = []  # lines not yet printed (a port, a port that moved)
        self._open_connections: set[asyncio.StreamWriter] = set()

    def address(self, key: str) -> str | None:
        entry = self._ports.get(key)
        return f"127.0.0.1:{entry.port}" if entry is not None else None

    def said(self) -> list[str]:
        """The lines to print since the last call: each instance's debug address, once."""
        lines, self._said = self._said, []
        return lines

    async def follow(self, change: InstancesChanged, open_new: bool = True) -> InstancesChanged:
        """Point each debugged instance's stable port at where it runs now; the statuses with the
        stable address in place of the instance's own. `open_new` false (a one-off `devloop
        status`): no new listener, which would close with the command; the instance's own address."""
        shown: list[InstanceStatus] = []
        live: dict[str, dict[str, str]] = {}
        for status in change.instances:
            if status.debug and status.debug_address and status.state == "running" and not status.sidecar:
                live.setdefault(f"{status.app}/{status.label}", {})[status.id] = status.debug_address
        for key, found in live.items():
            entry = self._ports.get(key)
            if entry is None and not open_new:
                continue
            entry = entry or await self._open(key, change.instances)
            # The newest instance takes new connections: one seen before keeps its place.
            entry.targets = {i: a for i, a in entry.targets.items() if i in found}
            entry.targets.update({i: a for i, a in found.items() if i not in entry.targets})
        for status in change.instances:
            key = f"{status.app}/{status.label}"
            if status.debug and key in self._ports:
                shown.append(replace(status, debug_address=self.address(key)))
            else:
                shown.append(status)
        return replace(change, instances=tuple(shown))

    async def _open(self, key: str, statuses: tuple[InstanceStatus, ...]) -> _Port:
        app, _, instance = key.partition("/")
        preferred = debug.debug_port(self.project_id, app, instance, lambda _p: True)
        taken = {e.port for e in self._ports.values()}
        port = debug.debug_port(self.project_id, app, instance, port_is_free, taken)
        entry = _Port(port)
        entry.server = await asyncio.start_server(
            lambda r, w: self._pipe(entry, r, w), "127.0.0.1", port
        )
        self._ports[key] = entry
        tool = next((s.debug for s in statuses if f"{s.app}/{s.label}" == key), "")
        if port != preferred:
            self._said.append(f"{key} debug: 127.0.0.1:{preferred} is taken, using 127.0.0.1:{port}")
        self._said.append(f"{key} debug: 127.0.0.1:{port} ({tool})")
        return entry

    async def _pipe(self, entry: _Port, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """One debugger connection, carried to the newest instance behind the port."""
        if not entry.targets:
            await close_writer(writer)
            return
        host, _, port = list(entry.targets.values())[-1].rpartition(":")
        try:
            up_reader, up_writer = await asyncio.open_connection(host, int(port))
        except OSError:
            await close_writer(writer)
            return

        async def copy(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError, asyncio.IncompleteReadError):
                while data := await src.read(CHUNK):
                    dst.write(data)
                    await dst.drain()
            with contextlib.suppress(OSError):
                if dst.can_write_eof():
                    dst.write_eof()

        self._open_connections.update((writer, up_writer))
        try:
            await asyncio.gather(copy(reader, up_writer), copy(up_reader, writer))
        finally:
            self._open_connections.difference_update((writer, up_writer))
            await close_writer(up_writer)
            await close_writer(writer)

    async def close(self) -> None:
        """Every listener closed, and every debugger connection through them."""
        for entry in self._ports.values():
            if entry.server is not None:
                entry.server.close()
        for writer in list(self._open_connections):
            writer.close()
        for entry in self._ports.values():
            if entry.server is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(entry.server.wait_closed(), 1)
        self._ports.clear()
