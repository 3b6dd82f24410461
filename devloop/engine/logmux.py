"""Follow every instance's output into the log buffer, as stern does for pods.

A tail starts when an instance runs and stops when it is gone. Each tail
remembers the last timestamp it delivered, so when a stream ends (the
container restarted, the engine hiccupped) the next tail resumes after it:
no line twice, none lost.
"""

from __future__ import annotations

import asyncio
import contextlib

from devloop.core.events import InstancesChanged, InstanceStatus
from devloop.core.logbuffer import LogBuffer, LogLine
from devloop.core.wording import instance_notes
from devloop.providers.base import Provider


class LogMux:
    def __init__(self, provider: Provider, buffer: LogBuffer) -> None:
        self.provider = provider
        self.buffer = buffer
        self.tails: dict[str, asyncio.Task[None]] = {}  # InstanceStatus.key -> its tail
        self.last_ns: dict[str, int] = {}
        self.latest: dict[str, InstanceStatus] = {}  # InstanceStatus.key -> last known status
        self._closed = False

    def on_instances(self, change: InstancesChanged) -> None:
        present = {i.key for i in change.instances}
        for cid, status in list(self.latest.items()):
            if status.app == change.app and cid not in present:
                del self.latest[cid]
                task = self.tails.pop(cid, None)
                if task is not None:
                    task.cancel()
        for instance in change.instances:
            self._note_restart(instance)
            self.latest[instance.key] = instance
            if instance.state == "running" and instance.key not in self.tails:
                self._start(instance)

    def _note_restart(self, instance: InstanceStatus) -> None:
        """Its crash (an OOM kill with the limit) and then its restart, each said once."""
        before = self.latest.get(instance.key)
        for text in instance_notes(before, instance):
            line = LogLine(instance.app, "API", text, instance.index, instance.id, process=instance.qualifier)
            self.buffer.add(line)

    def _start(self, instance: InstanceStatus, delay: float = 0.0) -> None:
        if self._closed:
            return
        task = asyncio.create_task(self._tail(instance, delay), name=f"tail {instance.app}/{instance.label}")
        self.tails[instance.key] = task

    async def _tail(self, instance: InstanceStatus, delay: float = 0.0) -> None:
        delivered = 0
        try:
            if delay:
                await asyncio.sleep(delay)  # backoff: the last tail delivered nothing
            async for line in self.provider.tail(instance, self.last_ns.get(instance.key)):
                if line.timestamp_ns:
                    self.last_ns[instance.key] = line.timestamp_ns
                self.buffer.add(line)
                delivered += 1
        finally:
            current = asyncio.current_task()
            if self.tails.get(instance.key) is current:
                del self.tails[instance.key]
        # The stream ended; if the instance runs again (a restart, a dropped connection),
        # follow it from the last line we have, backing off while nothing comes.
        latest = self.latest.get(instance.key)
        if latest is not None and latest.state == "running" and not self._closed:
            self._start(latest, 0.0 if delivered else min(2.0, max(0.1, delay * 2)))

    async def close(self) -> None:
        self._closed = True
        tasks = list(self.tails.values())
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self.tails.clear()
