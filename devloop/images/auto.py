"""The disk budget kept without asking: once a successful deploy is followed by `idle_s` with no
save, build or deploy, a prune runs beside the loop (never in a build's or deploy's way: removing
images while the next save builds slowed that build 2x), never failing anything, one at a time,
coalesced.

DEVLOOP_AUTO_PRUNE=0 turns it off (the test suite does: its projects share one engine).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable, Sequence

from devloop.core import events as ev
from devloop.core.pull import human_bytes
from devloop.core.spec import ProjectSpec
from devloop.core.state import EngineState
from devloop.images.prune import StoreReport, prune
from devloop.images.stores import Store

Say = Callable[[str, str], None]  # (app, text): an [API] line
IDLE_S = 5.0  # a burst of saves is one prune, after it
BUSY = (ev.FilesChanged, ev.BuildStarted, ev.DeployStarted, ev.SyncStarted)


def enabled() -> bool:
    return os.environ.get("DEVLOOP_AUTO_PRUNE", "1") not in ("0", "false", "no", "off")


class AutoPrune:
    """Subscribe `listener` to the engine; a deploy that succeeded starts (or queues) one prune."""

    def __init__(
        self, project: ProjectSpec, say: Say,
        stores: Callable[[ProjectSpec], Awaitable[Sequence[Store]]] | None = None, idle_s: float = IDLE_S,
    ) -> None:  # fmt: skip
        self.project = project
        self._say = say
        self._stores = stores
        self.idle_s = idle_s
        self._due: tuple[asyncio.TimerHandle, str] | None = None  # a prune waiting for the loop to be idle
        self._task: asyncio.Task[None] | None = None
        self._again = False
        self._said: set[str] = set()  # notes said once per run (a registry without delete)
        self.runs = 0

    def listener(self, _state: EngineState, event: ev.Event) -> None:
        if isinstance(event, ev.DeploySucceeded):
            self._schedule(event.app)
        elif isinstance(event, BUSY) and self._due is not None:
            self._schedule(self._due[1])  # still busy: later

    def _schedule(self, app: str) -> None:
        if self._due is not None:
            self._due[0].cancel()
        handle = asyncio.get_running_loop().call_later(self.idle_s, self._start, app)
        self._due = (handle, app)

    def _start(self, app: str) -> None:
        self._due = None
        if self._task is not None and not self._task.done():
            self._again = True
            return
        self._task = asyncio.get_running_loop().create_task(self._run(app), name="prune images")

    async def wait(self) -> None:
        """The prune due now rather than after the idle time, and until it (and the one queued
        behind it) is done: `devloop push` ends here."""
        if self._due is not None:
            self._due[0].cancel()
            self._start(self._due[1])
        if self._task is not None:
            await self._task

    async def _run(self, app: str) -> None:
        while True:
            self._again = False
            self.runs += 1
            try:
                if self._stores is None:  # the adapters when the first prune runs, not at import
                    from devloop.images.reach import reachable_stores

                    self._stores = reachable_stores
                stores = await self._stores(self.project)
                reports = await prune(stores, self.project.keep_images, [a.name for a in self.project.apps])
            except Exception as exc:  # the budget never fails the loop: say it, go on
                self._say(app, f"pruning old images failed: {exc}")
                reports = []
            self._report(app, reports)
            if not self._again:
                return

    def _report(self, app: str, reports: list[StoreReport]) -> None:
        done = [(r.store, r.removal) for r in reports if r.removal and r.removal.removed]
        if done:
            parts = ", ".join(f"{name} {human_bytes(r.freed)} ({len(r.removed)} tag(s))" for name, r in done)
            self._say(app, f"pruned images beyond the newest {self.project.keep_images} per app: {parts}")
        for report in reports:
            for note in report.removal.notes if report.removal else ():
                if note not in self._said:
                    self._said.add(note)
                    self._say(app, note)
