"""Linux: inotify watches placed only on folders the rules keep, also for folders created later.

watchdog's recursive inotify watch walks every folder, so its ignore patterns only
filter events while `node_modules` still costs thousands of watches (and can hit
fs.inotify.max_user_watches). Its watch group is extended here to prune while
walking and to report the watch limit instead of failing. Imported only on Linux,
by `observer.new_observer`.
"""

from __future__ import annotations

import errno
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from watchdog.observers.inotify import InotifyEmitter, InotifyObserver, InotifyWatchGroup

from devloop.watch.observer import LimitHandler, Pruner, Pruners


@dataclass
class _PrunedWatchGroup(InotifyWatchGroup):
    prune: Pruner | None = None
    on_limit: LimitHandler | None = None

    def _add_all_callbacks(self, path: bytes) -> None:
        if path != self.path and self.prune is not None and self.prune(path):
            return
        self._add_callback(path)
        if not (self.is_recursive and os.path.isdir(path)):
            return
        for root, dirnames, _ in os.walk(path, followlinks=self.follow_symlink):
            keep = []
            for name in dirnames:
                full = os.path.join(root, name)
                if not self.follow_symlink and os.path.islink(full):
                    continue
                if self.prune is not None and self.prune(full):
                    continue
                keep.append(name)
            dirnames[:] = keep
            for name in keep:
                self._add_callback(os.path.join(root, name))

    def _add_callback(self, path: bytes) -> None:
        if path in self._active_callbacks_by_path:
            return  # `mkdir -p`: added by the parent's walk and again by its own create event
        try:
            wd = self._inotify_fd.add_callback(path, self.event_mask, self._callback, self._id)
        except OSError as exc:
            if exc.errno == errno.ENOSPC and self.on_limit is not None:
                self.on_limit(path)
                return
            if path == self.path:
                raise
            return  # a folder that vanished while we walked
        self._active_callbacks_by_path[path] = wd
        self._active_callbacks_by_watch[wd] = path


class _PrunedEmitter(InotifyEmitter):
    def __init__(self, *args: Any, pruners: Pruners, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._pruner, self._on_limit = pruners[self.watch.path]

    def on_thread_start(self) -> None:
        self._inotify = _PrunedWatchGroup(
            self._inotify_fd,
            os.fsencode(self.watch.path),
            is_recursive=self.watch.is_recursive,
            event_mask=self.get_event_mask_from_filter(),
            follow_symlink=self.watch.follow_symlink,
            prune=self._pruner,
            on_limit=self._on_limit,
        )


class PrunedInotifyObserver(InotifyObserver):
    """watchdog's inotify observer whose recursive watches skip the folders `pruners` name."""

    def __init__(self, pruners: Pruners) -> None:
        self.pruners = pruners  # by watched root; filled by the watcher as it schedules
        super().__init__()
        self._emitter_class = _PrunedEmitter
        self._emitter_kwargs = {**self._emitter_kwargs, "pruners": self.pruners}


def count_inotify_watches(pid: int | None = None) -> int:
    """Watches held by a process: `inotify wd:` lines across its fdinfo (Linux)."""
    folder = Path(f"/proc/{pid or os.getpid()}/fdinfo")
    total = 0
    for info in folder.iterdir():
        try:
            total += sum(1 for line in info.read_text().splitlines() if line.startswith("inotify wd:"))
        except OSError:
            continue
    return total
