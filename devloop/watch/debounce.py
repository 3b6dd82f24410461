"""Turn a burst of file events into one batch: a `git checkout` of 1,000 files is one rebuild."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class Debouncer:
    """Gathers paths until `quiet_s` passes with none new (at most `max_wait_s`), then flushes.

    While the batch holds a single file (an editor's save) it settles after the
    shorter `single_quiet_s`; a second file means a burst (a checkout, a build
    tool) and the full quiet period applies. Runs on the event loop: `add` must
    be called from the loop thread.
    """

    flush: Callable[[frozenset[str]], None]
    quiet_s: float = 0.2
    max_wait_s: float = 2.0
    single_quiet_s: float = 0.01  # an editor's save (a write, or a temp file and a rename) is done in 1 ms
    _pending: set[str] = field(default_factory=set)
    _created: set[str] = field(default_factory=set)  # created within the current batch
    _timer: asyncio.TimerHandle | None = None
    _first_at: float = 0.0

    def add(self, rel: str, kind: str = "changed") -> None:
        """`kind`: created, changed, deleted or moved_from (the old name of a rename)."""
        loop = asyncio.get_running_loop()
        now = loop.time()
        if not self._pending:
            self._first_at = now
        if kind in ("deleted", "moved_from") and rel in self._created:
            # A temp file written and renamed or removed within the burst (sed -i, editors'
            # safe writes): it never existed as far as the app is concerned.
            self._created.discard(rel)
            self._pending.discard(rel)
            if not self._pending:
                return
        else:
            if kind == "created":
                self._created.add(rel)
            self._pending.add(rel)
        if self._timer is not None:
            self._timer.cancel()
        quiet = min(self.single_quiet_s, self.quiet_s) if len(self._pending) == 1 else self.quiet_s
        delay = min(quiet, max(0.0, self._first_at + self.max_wait_s - now))
        self._timer = loop.call_later(delay, self._fire)

    @property
    def first_at(self) -> float:
        """When the batch being gathered (or the one just flushed) saw its first event, loop time."""
        return self._first_at

    def _fire(self) -> None:
        self._timer = None
        batch, self._pending = frozenset(self._pending), set()
        self._created.clear()
        if batch:
            self.flush(batch)

    def cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._pending.clear()
        self._created.clear()
