"""Log lines from every source, and a bounded buffer of them.

Lines bypass the reducer: they go straight into this ring buffer, which front
ends read in batches.
"""

from __future__ import annotations

import zlib
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass

PALETTE = ("cyan", "green", "yellow", "magenta", "blue", "bright_cyan", "bright_green", "bright_magenta")


@dataclass(frozen=True)
class LogLine:
    app: str
    source: str  # APP, STG (build), API (devloop events), RTR (router)
    text: str
    instance: int | None = None
    container: str = ""
    timestamp_ns: int = 0  # from the platform when it gives one
    process: str = ""  # a non-web process type or a sidecar (InstanceStatus.qualifier); "" for web

    @property
    def tag(self) -> str:
        """`APP/0`, `APP/worker/1`, `APP/stats/0`: source, process or sidecar, instance."""
        if self.instance is None:
            return self.source
        return (
            f"{self.source}/{self.process}/{self.instance}"
            if self.process
            else f"{self.source}/{self.instance}"
        )

    @property
    def colour_key(self) -> str:
        """One colour per instance (a web instance, a worker, a sidecar), stable across runs."""
        return f"{self.app}/{self.process}/{self.instance}" if self.process else f"{self.app}/{self.instance}"


def colour_for(key: str) -> str:
    """A stable colour per instance: the same every run (crc32, never hash())."""
    return PALETTE[zlib.crc32(key.encode()) % len(PALETTE)]


class LogBuffer:
    """Keeps the last `per_app` lines of each app; tells subscribers about each new line."""

    def __init__(self, per_app: int = 10_000) -> None:
        self.per_app = per_app
        self._lines: dict[str, deque[LogLine]] = {}
        self._subscribers: list[Callable[[LogLine], None]] = []

    def subscribe(self, callback: Callable[[LogLine], None]) -> None:
        self._subscribers.append(callback)

    def add(self, line: LogLine) -> None:
        lines = self._lines.get(line.app)
        if lines is None:
            lines = self._lines[line.app] = deque(maxlen=self.per_app)
        lines.append(line)
        for callback in self._subscribers:
            callback(line)

    def lines(self, app: str | None = None) -> Iterator[LogLine]:
        if app is not None:
            yield from self._lines.get(app, ())
            return
        for lines in self._lines.values():
            yield from lines

    def __len__(self) -> int:
        return sum(len(v) for v in self._lines.values())
