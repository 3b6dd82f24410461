"""The engine's blocking streams as async iterators: container events (which apps changed, one set
per burst) and one container's log, each read by a thread of its own.

The engine reads both with blocking sockets; a reader thread hands what it reads to the event loop,
coalesced so a burst costs one wake-up, and its stream is closed when the consumer stops.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Sequence

from devloop.adapters.dockerapi import ContainerEvent, DockerEngine, Stream
from devloop.core.events import InstanceStatus
from devloop.core.logbuffer import LogLine
from devloop.providers.docker.containers import engine_error
from devloop.providers.docker.labels import LABEL_APP
from devloop.providers.docker.sandboxes import LABEL_SANDBOX
from devloop.providers.shared import parse_log_line

Engine = Callable[[], DockerEngine]  # the engine, connected on first use (in the thread)


async def app_events(engine: Engine, labels: list[str]) -> AsyncGenerator[set[str], None]:
    """The names of the apps whose containers (those with `labels`) had events, a set per burst;
    DockerUnavailableError when the engine closes the stream or goes away."""
    queue: asyncio.Queue[str | BaseException] = asyncio.Queue()
    loop = asyncio.get_running_loop()
    stop = threading.Event()
    stream_holder: list[Stream[ContainerEvent]] = []

    def pump() -> None:
        try:
            stream = engine().events(labels)
            stream_holder.append(stream)
            for event in stream:
                if stop.is_set():
                    return
                name = event.attributes.get(LABEL_APP)
                if name and LABEL_SANDBOX not in event.attributes:  # a sandbox is no instance
                    loop.call_soon_threadsafe(queue.put_nowait, name)
            raise ConnectionError("the event stream ended")  # the engine closed it
        except BaseException as exc:  # the engine went away: tell the consumer
            if not stop.is_set():
                loop.call_soon_threadsafe(queue.put_nowait, exc)

    thread = threading.Thread(target=pump, name="devloop-docker-events", daemon=True)
    thread.start()
    try:
        while True:
            item = await queue.get()
            if isinstance(item, BaseException):
                raise engine_error(item)
            names = {item}
            while not queue.empty():  # coalesce a burst of events
                extra = queue.get_nowait()
                if isinstance(extra, BaseException):
                    raise engine_error(extra)
                names.add(extra)
            yield names
    finally:
        _end(stop, stream_holder)


async def log_lines(
    engine: Engine, instance: InstanceStatus, since_ns: int | None, follow: bool, last: int | None
) -> AsyncIterator[LogLine]:
    """The container's output after `since_ns` (or its `last` lines), following until it stops;
    a container that goes away just ends the lines."""
    handover = _Handover(asyncio.get_running_loop())
    holder: list[Stream[bytes]] = []
    stop = threading.Event()

    def pump() -> None:
        try:
            stream = engine().log_stream(instance.id, follow=follow, since_ns=since_ns, tail=last)
            holder.append(stream)
            buffer = b""
            for chunk in stream:  # Docker frames each write: usually one line a chunk
                if stop.is_set():
                    return
                buffer += chunk
                *lines, buffer = buffer.split(b"\n")
                for raw in filter(None, lines):
                    line = parse_log_line(instance, raw.decode("utf-8", errors="replace").rstrip("\r"))
                    if since_ns is None or line.timestamp_ns > since_ns:
                        handover.add(line)
        except BaseException:
            pass  # the container went away: the stream just ends
        finally:
            handover.end()

    thread = threading.Thread(target=pump, name=f"devloop-logs-{instance.id[:12]}", daemon=True)
    thread.start()
    try:
        async for batch in handover.batches():
            for line in batch:
                yield line
    finally:
        _end(stop, holder)


def _end(stop: threading.Event, streams: Sequence[Stream[object]]) -> None:
    """The pump thread told to stop and its stream closed, which ends a read it is blocked in."""
    stop.set()
    for stream in streams:
        with contextlib.suppress(Exception):
            stream.close()


class _Handover:
    """Lines from a reader thread to the event loop, coalesced: one wake-up per burst, not per line.

    The thread appends under a lock and schedules one drain only when none is pending,
    so while the loop is busy lines gather into one batch (200,000 lines cost a few
    thousand wake-ups instead of 200,000).
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._lock = threading.Lock()
        self._pending: list[LogLine] = []
        self._scheduled = False
        self._ended = False
        self._queue: asyncio.Queue[list[LogLine] | None] = asyncio.Queue()

    def add(self, line: LogLine) -> None:
        with self._lock:
            self._pending.append(line)
            if self._scheduled:
                return
            self._scheduled = True
        self._loop.call_soon_threadsafe(self._drain)

    def end(self) -> None:
        with self._lock:
            self._ended = True
            if self._scheduled:
                return
            self._scheduled = True
        with contextlib.suppress(RuntimeError):  # the loop is already closed
            self._loop.call_soon_threadsafe(self._drain)

    def _drain(self) -> None:
        with self._lock:
            batch, self._pending = self._pending, []
            ended, self._scheduled = self._ended, False
        if batch:
            self._queue.put_nowait(batch)
        if ended:
            self._queue.put_nowait(None)

    async def batches(self) -> AsyncIterator[list[LogLine]]:
        while (batch := await self._queue.get()) is not None:
            yield batch
