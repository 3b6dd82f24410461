"""The one place the watcher's observer is chosen for the platform, and what it is told to prune.

On Linux an inotify observer that skips ignored folders while placing watches
(`devloop.watch.inotify`); elsewhere (FSEvents, polling) watchdog's own recursive
observer, where a watch costs no per-folder resource and the pruners go unused.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

from watchdog.events import (
    DirCreatedEvent,
    DirDeletedEvent,
    DirMovedEvent,
    FileClosedEvent,
    FileCreatedEvent,
    FileDeletedEvent,
    FileMovedEvent,
    FileSystemEvent,
)
from watchdog.observers.api import BaseObserver

Pruner = Callable[[bytes], bool]  # a folder's path -> place no watch in it
LimitHandler = Callable[[bytes], None]  # the kernel refused a watch at this path (fs.inotify limit)
Pruners = dict[str, tuple[Pruner, LimitHandler]]  # by watched root

# No IN_MODIFY: every write(2) would be an event, while a save always ends with
# IN_CLOSE_WRITE (FileClosedEvent); hard links and moves show as create/move.
EVENT_FILTER: list[type[FileSystemEvent]] = [
    FileCreatedEvent, FileDeletedEvent, FileMovedEvent, FileClosedEvent,
    DirCreatedEvent, DirDeletedEvent, DirMovedEvent,
]  # fmt: skip


def new_observer(pruners: Pruners) -> BaseObserver:
    """The platform's observer; `pruners` is read as roots are scheduled, so fill it before each."""
    if sys.platform.startswith("linux"):
        from devloop.watch.inotify import PrunedInotifyObserver

        return PrunedInotifyObserver(pruners)
    from watchdog.observers import Observer  # pragma: no cover - macOS/Windows

    observer: BaseObserver = Observer()  # pragma: no cover
    return observer  # pragma: no cover
