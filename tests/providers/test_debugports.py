"""The stable debug ports: one loopback listener per debugged instance, carried to the newest
instance behind it (a rebuild reattaches at the same port), said once, moved on when taken."""

from __future__ import annotations

import asyncio
import socket

from devloop.core import debug
from devloop.core.events import InstancesChanged, InstanceStatus
from devloop.providers.debugports import DebugPorts


async def upstream(name: bytes) -> tuple[asyncio.Server, str]:
    """A stand-in debug adapter answering its name to each connection."""

    async def answer(_r: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(name)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    return server, f"127.0.0.1:{server.sockets[0].getsockname()[1]}"


def instance(cid: str, at: str, state: str = "running") -> InstanceStatus:
    return InstanceStatus("web", 0, cid, state, debug="debugpy", debug_address=at)


async def read_from(address: str) -> bytes:
    host, _, port = address.rpartition(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    data = await reader.read()
    writer.close()
    return data


def test_a_rebuild_is_reached_at_the_same_port_and_the_address_is_said_once() -> None:
    async def scenario() -> None:
        ports = DebugPorts("proj-debugports-1")
        old, old_at = await upstream(b"old")
        new, new_at = await upstream(b"new")
        try:
            first = await ports.follow(InstancesChanged("web", (instance("a", old_at),)))
            stable = first.instances[0].debug_address
            assert stable is not None and stable != old_at
            assert ports.said() == [f"web/0 debug: {stable} (debugpy)"]
            assert await read_from(stable) == b"old"
            both = await ports.follow(InstancesChanged("web", (instance("a", old_at), instance("b", new_at))))
            assert [i.debug_address for i in both.instances] == [stable, stable]
            assert await read_from(stable) == b"new"  # the new version takes new attaches
            await ports.follow(InstancesChanged("web", (instance("a", old_at, "stopping"), instance("b", new_at))))
            assert await read_from(stable) == b"new" and ports.said() == []
        finally:
            await ports.close()
            old.close()
            new.close()

    asyncio.run(scenario())


def test_a_taken_debug_port_moves_to_the_next_free_one_and_says_so() -> None:
    async def scenario() -> None:
        preferred = debug.debug_port("proj-debugports-2", "web", "0", lambda _p: True)
        holder = socket.socket()
        holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        holder.bind(("127.0.0.1", preferred))
        holder.listen()
        ports = DebugPorts("proj-debugports-2")
        server, at = await upstream(b"x")
        try:
            shown = await ports.follow(InstancesChanged("web", (instance("a", at),)))
            moved = shown.instances[0].debug_address
            assert moved != f"127.0.0.1:{preferred}"
            assert ports.said() == [
                f"web/0 debug: 127.0.0.1:{preferred} is taken, using {moved}", f"web/0 debug: {moved} (debugpy)"
            ]
        finally:
            holder.close()
            await ports.close()
            server.close()

    asyncio.run(scenario())


def test_an_instance_not_debugged_is_left_alone() -> None:
    async def scenario() -> None:
        ports = DebugPorts("proj-debugports-3")
        plain = InstanceStatus("web", 0, "a", "running", address="127.0.0.1:1")
        assert (await ports.follow(InstancesChanged("web", (plain,)))).instances == (plain,)
        assert ports.said() == []
        await ports.close()

    asyncio.run(scenario())


def test_a_one_off_look_opens_no_listener_and_shows_the_instances_own_port() -> None:
    async def scenario() -> None:
        ports = DebugPorts("proj-debugports-4")
        server, at = await upstream(b"x")
        try:
            shown = await ports.follow(InstancesChanged("web", (instance("a", at),)), open_new=False)
            assert shown.instances[0].debug_address == at and ports.said() == []
            opened = await ports.follow(InstancesChanged("web", (instance("a", at),)))
            stable = opened.instances[0].debug_address
            again = await ports.follow(InstancesChanged("web", (instance("a", at),)), open_new=False)
            assert again.instances[0].debug_address == stable != at  # one already open is used
        finally:
            await ports.close()
            server.close()

    asyncio.run(scenario())
