"""Where the time of one save goes, stage by stage, for `devloop events` and the benchmarks.

A save passes the watcher (debounce), the engine, then a sync (tar, copy, reload, serving) or a
rebuild (build, start, healthy, routed). Each piece of code that finishes a stage marks it on the
stopwatch of the save it works for; the stopwatch travels in a context variable, so the marks
need no new parameters through the providers, and `asyncio.to_thread` carries it into threads.
Only a stage's first mark counts: the save's first instance to serve is the one a user sees.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from contextvars import ContextVar

Stages = tuple[tuple[str, float], ...]  # (stage, milliseconds) in the order they happened

_current: ContextVar[Stopwatch | None] = ContextVar("devloop_stopwatch", default=None)


class Stopwatch:
    """Marks of one save, from the moment its first file event was seen (monotonic seconds)."""

    def __init__(self, started: float | None = None) -> None:
        self.started = time.monotonic() if started is None else started
        self._marks: dict[str, float] = {}

    def mark(self, stage: str, at: float | None = None) -> None:
        """`stage` finished now (or `at`); a second mark of the same stage is ignored."""
        self._marks.setdefault(stage, time.monotonic() if at is None else at)

    def stages(self) -> Stages:
        """Each stage's own time: from the mark before it (or the start) to its mark."""
        out: list[tuple[str, float]] = []
        previous = self.started
        for stage, at in sorted(self._marks.items(), key=lambda item: item[1]):
            out.append((stage, round(max(0.0, at - previous) * 1000, 1)))
            previous = max(previous, at)
        return tuple(out)


def mark(stage: str) -> None:
    """Mark `stage` on the current save's stopwatch, if the work runs for one."""
    stopwatch = _current.get()
    if stopwatch is not None:
        stopwatch.mark(stage)


@contextlib.contextmanager
def timing(stopwatch: Stopwatch | None) -> Iterator[Stopwatch | None]:
    """Run the block (and the tasks and threads it starts) for `stopwatch`'s save."""
    token = _current.set(stopwatch)
    try:
        yield stopwatch
    finally:
        _current.reset(token)


def total_ms(stages: Stages) -> float:
    return round(sum(ms for _stage, ms in stages), 1)


def describe(stages: Stages) -> str:
    """`112 ms (debounce 20, copy 4, reload 2, serving 80)`: the timeline's words for them."""
    if not stages:
        return ""
    parts = ", ".join(f"{stage} {ms:.0f}" for stage, ms in stages)
    return f"{total_ms(stages):.0f} ms ({parts})"
