"""Watch app folders and put one batch of changed files per app and burst on a queue.

One observer (one inotify fd, one reader thread on Linux) serves every app; the
rules (`rules`) say which folders get no watch and which files count, the
debouncer (`debounce`) gathers a burst into one batch of relative paths. A save of
the project's config goes on its own queue, and an app folder that is removed is
watched again when it comes back.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers.api import BaseObserver, ObservedWatch
from watchdog.observers.polling import PollingObserver

from devloop.core.spec import AppSpec
from devloop.errors import WatchError
from devloop.watch.debounce import Debouncer
from devloop.watch.observer import EVENT_FILTER, LimitHandler, Pruner, Pruners, new_observer
from devloop.watch.rules import RULE_FILES, WatchRules, files_under

SYSCTL_FIX = "sudo sysctl fs.inotify.max_user_watches=524288"
ROOT_POLL_S = 0.25  # how often the path of a removed app folder is checked
CONFIG_WATCH = "\0config"  # the key of the config files' own watch (no app has this name)


@dataclass(frozen=True)
class ChangeBatch:
    app: str
    files: frozenset[str]  # relative to the app folder, POSIX
    first_seen: float = 0.0  # the burst's first event (loop time, monotonic): a save's timing starts there


@dataclass
class _AppWatch:
    app: AppSpec
    rules: WatchRules
    debouncer: Debouncer
    watch: ObservedWatch | None = None
    polling: BaseObserver | None = None
    returning: asyncio.Task[None] | None = None  # the folder was removed: waiting for it


PathSink = Callable[[str, bool, str], None]


class _Handler(FileSystemEventHandler):
    def __init__(self, on_path: PathSink) -> None:
        self._on_path = on_path

    def on_any_event(self, event: FileSystemEvent) -> None:
        is_dir = bool(event.is_directory) and event.event_type != "deleted"
        src = os.fsdecode(event.src_path)
        if event.event_type == "moved":
            self._on_path(src, is_dir, "moved_from")
            self._on_path(os.fsdecode(event.dest_path), is_dir, "created")
        elif event.event_type in ("created", "deleted"):
            self._on_path(src, is_dir, event.event_type)
        else:
            self._on_path(src, is_dir, "changed")


class Watcher:
    """Watches every app's folder and puts one ChangeBatch per app and burst on `batches`."""

    def __init__(
        self,
        apps: Iterable[AppSpec],
        quiet_s: float = 0.2,
        max_wait_s: float = 2.0,
        config_files: Iterable[Path] = (),
    ) -> None:
        self.apps = list(apps)
        # The project's config (devloop.yaml or manifest.yml, vars files): a save of one is put
        # on `config_changes`, never in an app's batch, so it reloads the config, not the code.
        self.config_files = frozenset(p.parent.resolve() / p.name for p in config_files)
        self.config_changes: asyncio.Queue[frozenset[str]] = asyncio.Queue()
        self._config_names = frozenset(p.name for p in self.config_files)
        self._config_debouncer = Debouncer(self.config_changes.put_nowait, quiet_s, max_wait_s)
        self.quiet_s = quiet_s
        self.max_wait_s = max_wait_s
        self.batches: asyncio.Queue[ChangeBatch] = asyncio.Queue()
        self.notices: asyncio.Queue[str] = asyncio.Queue()
        self._observer: BaseObserver | None = None
        self._pruners: Pruners = {}  # by watched root, read by the observer as it walks
        self._loop: asyncio.AbstractEventLoop | None = None
        self._watches: dict[str, _AppWatch] = {}
        self._limit_reported = False
        self._inbox: list[tuple[str, str, bool, str]] = []  # filled by watchdog's thread
        self._inbox_lock = threading.Lock()

    async def start(self) -> None:
        """Place the watches (off the loop: walking a big tree takes a while)."""
        self._loop = asyncio.get_running_loop()
        await asyncio.to_thread(self._start_sync)

    def _start_sync(self) -> None:
        observer = new_observer(self._pruners)
        self._observer = observer
        observer.start()
        for app in self.apps:
            self._schedule(app)
        roots = {str(app.source) for app in self.apps}
        for folder in sorted({str(p.parent) for p in self.config_files} - roots):
            # A config outside every app folder: its folder alone, not recursively.
            self._pruners[folder] = (lambda _path: True, lambda _path: None)
            handler = _Handler(lambda path, is_dir, kind: self._from_thread(CONFIG_WATCH, path, is_dir, kind))
            with contextlib.suppress(OSError):
                observer.schedule(handler, folder, recursive=False, event_filter=EVENT_FILTER)

    def _schedule(self, app: AppSpec) -> None:
        assert self._observer is not None and self._loop is not None
        if not app.source.is_dir():
            raise WatchError(f"cannot watch {app.source}: the folder does not exist")
        rules = WatchRules.for_app(app)
        entry = _AppWatch(app, rules, Debouncer(self._flusher(app.name), self.quiet_s, self.max_wait_s))
        self._watches[app.name] = entry
        root = str(app.source)
        self._pruners[root] = (self._pruner(rules), self._limit_handler(entry))
        handler = _Handler(lambda path, is_dir, kind: self._from_thread(app.name, path, is_dir, kind))
        try:
            entry.watch = self._observer.schedule(handler, root, recursive=True, event_filter=EVENT_FILTER)
        except OSError as exc:
            if exc.errno == errno.ENOSPC:
                self._limit_handler(entry)(os.fsencode(root))
                return
            raise WatchError(f"cannot watch {root}: {exc.strerror}") from None

    def _pruner(self, rules: WatchRules) -> Pruner:
        root = str(rules.root)

        def prune(path: bytes) -> bool:
            rel = os.path.relpath(os.fsdecode(path), root).replace(os.sep, "/")
            return rel != "." and rules.ignored_dir(rel)

        return prune

    def _limit_handler(self, entry: _AppWatch) -> LimitHandler:
        def on_limit(path: bytes) -> None:
            subtree = os.fsdecode(path)
            if not self._limit_reported:
                self._limit_reported = True
                message = (
                    f"inotify watch limit reached while watching {subtree}; "
                    f"polling that folder instead (slower). Fix: {SYSCTL_FIX}"
                )
                assert self._loop is not None
                self._loop.call_soon_threadsafe(self.notices.put_nowait, message)
            self._poll_subtree(entry, subtree)

        return on_limit

    def _poll_subtree(self, entry: _AppWatch, subtree: str) -> None:
        if entry.polling is None:
            entry.polling = PollingObserver(timeout=1.0)
            entry.polling.start()
        handler = _Handler(lambda path, is_dir, kind: self._from_thread(entry.app.name, path, is_dir, kind))
        entry.polling.schedule(handler, subtree, recursive=True, event_filter=EVENT_FILTER)

    def _from_thread(self, app: str, path: str, is_dir: bool, kind: str) -> None:
        """Queue an event for the loop; wake it once per batch of events, not once per event."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        with self._inbox_lock:
            wake = not self._inbox
            self._inbox.append((app, path, is_dir, kind))
        if wake:
            loop.call_soon_threadsafe(self._drain)

    def _drain(self) -> None:
        with self._inbox_lock:
            events, self._inbox = self._inbox, []
        for app, path, is_dir, kind in events:
            self._on_path(app, path, is_dir, kind)

    def _on_path(self, app: str, path: str, is_dir: bool, kind: str) -> None:
        config = not is_dir and os.path.basename(path) in self._config_names
        if config and Path(path) in self.config_files:
            self._config_debouncer.add(path, kind)
            return
        entry = self._watches.get(app)
        if entry is None:
            return
        rel = os.path.relpath(path, entry.app.source).replace(os.sep, "/")
        if rel == "." and kind in ("deleted", "moved_from") and not entry.app.source.is_dir():
            self._root_gone(entry)
            return
        if rel == "." or rel.startswith("../"):
            return
        if is_dir:
            return  # its files are reported one by one (watchdog simulates them for new folders)
        if entry.rules.ignored_file(rel):
            return
        if rel.rsplit("/", 1)[-1] in RULE_FILES:
            entry.rules = WatchRules.for_app(entry.app)  # new patterns for events from now on
        entry.debouncer.add(rel, kind)

    def _root_gone(self, entry: _AppWatch) -> None:
        """The app folder was removed (a branch switch, `git stash -u`, a re-clone): inotify cannot
        watch a path that does not exist, so its path is checked every ROOT_POLL_S until it is back;
        then it is watched again and every file in it counts as changed."""
        if entry.returning is not None:
            return
        self.notices.put_nowait(f"{entry.app.source} was removed; watching for it to come back")
        if self._observer is not None and entry.watch is not None:
            with contextlib.suppress(KeyError, OSError):
                self._observer.unschedule(entry.watch)
            entry.watch = None
        entry.returning = asyncio.get_running_loop().create_task(self._await_return(entry))

    async def _await_return(self, entry: _AppWatch) -> None:
        while True:
            while not entry.app.source.is_dir():
                await asyncio.sleep(ROOT_POLL_S)  # polling the path: there is nothing to watch yet
            try:
                await asyncio.to_thread(self._schedule, entry.app)
                break
            except (WatchError, OSError):
                continue  # gone again between the check and the watch
        returned = self._watches[entry.app.name]
        for rel in await asyncio.to_thread(files_under, returned.rules):
            returned.debouncer.add(rel, "created")
        self.notices.put_nowait(f"{entry.app.source} is back; watching it again")

    def _flusher(self, app: str) -> Callable[[frozenset[str]], None]:
        def flush(files: frozenset[str]) -> None:
            entry = self._watches.get(app)
            first = entry.debouncer.first_at if entry is not None else 0.0
            self.batches.put_nowait(ChangeBatch(app, files, first))

        return flush

    async def stop(self) -> None:
        self._config_debouncer.cancel()
        for entry in self._watches.values():
            entry.debouncer.cancel()
            if entry.returning is not None:
                entry.returning.cancel()
        await asyncio.to_thread(self._stop_sync)

    def _stop_sync(self) -> None:
        for entry in self._watches.values():
            if entry.polling is not None:
                entry.polling.stop()
                entry.polling.join(timeout=5)
        if self._observer is not None:
            self._observer.stop()
            self._observer.join(timeout=5)
            self._observer = None
