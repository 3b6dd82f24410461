"""Watch app folders: prune ignored folders before placing watches, debounce bursts.

On Linux, watchdog's recursive inotify watch walks every folder, so ignore
patterns would only filter events while `node_modules` still cost thousands of
watches. We extend its watch group to skip ignored folders while walking, also
for folders created later. One observer (one inotify fd, one reader thread)
serves every app. Elsewhere (FSEvents, polling) watchdog's own recursive
observer is used; there a watch costs no per-folder resource.

Events are gathered per app until `quiet_s` passes with no new one (or
`max_wait_s` since the first), then delivered as one batch of relative paths:
a `git checkout` of 1,000 files is one batch.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import sys
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pathspec
from watchdog.events import (
    DirCreatedEvent,
    DirDeletedEvent,
    DirMovedEvent,
    FileClosedEvent,
    FileCreatedEvent,
    FileDeletedEvent,
    FileMovedEvent,
    FileSystemEvent,
    FileSystemEventHandler,
)
from watchdog.observers.api import BaseObserver, ObservedWatch
from watchdog.observers.polling import PollingObserver

from devloop.build.context import GENERATED_BUILD_EXCLUDES, IgnoreRules, read_dockerignore
from devloop.core.changes import is_editor_temp
from devloop.core.spec import AppSpec
from devloop.errors import WatchError

DEVLOOP_IGNORES = (
    ".git", ".hg", ".svn", ".devloop", "__pycache__", ".mypy_cache", ".pytest_cache",
    ".ruff_cache", ".tox", ".nox", ".venv", ".idea", ".vscode", "node_modules",
)  # fmt: skip
# No IN_MODIFY: every write(2) would be an event, while a save always ends with
# IN_CLOSE_WRITE (FileClosedEvent); hard links and moves show as create/move.
EVENT_FILTER: list[type[FileSystemEvent]] = [
    FileCreatedEvent, FileDeletedEvent, FileMovedEvent, FileClosedEvent,
    DirCreatedEvent, DirDeletedEvent, DirMovedEvent,
]  # fmt: skip
RULE_FILES = frozenset({".gitignore", ".dockerignore"})
SYSCTL_FIX = "sudo sysctl fs.inotify.max_user_watches=524288"
ROOT_POLL_S = 0.25  # how often the path of a removed app folder is checked
CONFIG_WATCH = "\0config"  # the key of the config files' own watch (no app has this name)


class WatchRules:
    """Which paths of one app folder matter: not VCS data, not ignored by git, Docker or devloop."""

    def __init__(self, root: Path, docker_patterns: Iterable[str], keep: Iterable[str] = ()) -> None:
        self.root = root
        self.keep = frozenset(keep)
        self._docker = IgnoreRules(docker_patterns)
        self._git = _gitignores(root)

    @classmethod
    def for_app(cls, app: AppSpec) -> WatchRules:
        root = app.source
        docker: list[str] = []
        keep = {".dockerignore", ".gitignore"}
        if app.build is not None:
            docker = read_dockerignore(app.build.context)
            if app.build.dockerfile is None:
                docker += [p for p in GENERATED_BUILD_EXCLUDES if p != ".dockerignore"]
            else:
                with contextlib.suppress(ValueError):
                    keep.add(app.build.dockerfile.relative_to(root).as_posix())
        return cls(root, docker, keep)

    def ignored_dir(self, rel: str) -> bool:
        name = rel.rsplit("/", 1)[-1]
        if name in DEVLOOP_IGNORES:
            return True
        if self._docker.prune(rel):
            return True
        return self._git_ignored(rel + "/")

    def ignored_file(self, rel: str) -> bool:
        if rel in self.keep:
            return False
        if is_editor_temp(rel):
            return True
        parts = rel.split("/")
        if any(p in DEVLOOP_IGNORES for p in parts[:-1]):
            return True
        if self._docker.excluded(rel):
            return True
        return self._git_ignored(rel)

    def _git_ignored(self, rel: str) -> bool:
        for base, spec in self._git:
            if base and not rel.startswith(base + "/"):
                continue
            inner = rel[len(base) + 1 :] if base else rel
            if spec.match_file(inner):
                return True
        return False


def _gitignores(root: Path) -> list[tuple[str, pathspec.GitIgnoreSpec]]:
    """Every .gitignore under `root` (outside pruned folders), each applying to its own subtree."""
    found: list[tuple[str, pathspec.GitIgnoreSpec]] = []
    pending = [""]
    while pending:
        rel_dir = pending.pop()
        folder = root / rel_dir if rel_dir else root
        try:
            text = (folder / ".gitignore").read_text(encoding="utf-8")
            found.append((rel_dir, pathspec.GitIgnoreSpec.from_lines(text.splitlines())))
        except (OSError, UnicodeDecodeError):
            pass
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for entry in entries:
            if entry.is_dir(follow_symlinks=False) and entry.name not in DEVLOOP_IGNORES:
                rel = f"{rel_dir}/{entry.name}" if rel_dir else entry.name
                if not any(
                    spec.match_file((rel[len(b) + 1 :] if b else rel) + "/")
                    for b, spec in found
                    if not b or rel.startswith(b + "/")
                ):
                    pending.append(rel)
    return found


# --- inotify with pruning (Linux) ---------------------------------------------------------------

Pruner = Callable[[bytes], bool]
LimitHandler = Callable[[bytes], None]

if sys.platform.startswith("linux"):
    from watchdog.observers.inotify import InotifyEmitter, InotifyObserver, InotifyWatchGroup

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
        def __init__(
            self, *args: Any, pruners: dict[str, tuple[Pruner, LimitHandler]], **kwargs: Any
        ) -> None:
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
        def __init__(self) -> None:
            self.pruners: dict[str, tuple[Pruner, LimitHandler]] = {}
            super().__init__()
            self._emitter_class = _PrunedEmitter
            self._emitter_kwargs = {**self._emitter_kwargs, "pruners": self.pruners}

    def _new_observer() -> BaseObserver:
        return PrunedInotifyObserver()

else:  # pragma: no cover - macOS/Windows: no per-folder watch cost

    def _new_observer() -> BaseObserver:
        from watchdog.observers import Observer

        observer: BaseObserver = Observer()
        observer.pruners = {}  # type: ignore[attr-defined]
        return observer


# --- debouncing ----------------------------------------------------------------------------------


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
    single_quiet_s: float = 0.02
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


# --- the watcher ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChangeBatch:
    app: str
    files: frozenset[str]  # relative to the app folder, POSIX


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
        observer = _new_observer()
        self._observer = observer
        observer.start()
        for app in self.apps:
            self._schedule(app)
        roots = {str(app.source) for app in self.apps}
        for folder in sorted({str(p.parent) for p in self.config_files} - roots):
            # A config outside every app folder: its folder alone, not recursively.
            observer.pruners[folder] = (lambda _path: True, lambda _path: None)  # type: ignore[attr-defined]
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
        self._observer.pruners[root] = (self._pruner(rules), self._limit_handler(entry))  # type: ignore[attr-defined]
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
        for rel in await asyncio.to_thread(_files_under, returned.rules):
            returned.debouncer.add(rel, "created")
        self.notices.put_nowait(f"{entry.app.source} is back; watching it again")

    def _flusher(self, app: str) -> Callable[[frozenset[str]], None]:
        return lambda files: self.batches.put_nowait(ChangeBatch(app, files))

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


def _files_under(rules: WatchRules) -> list[str]:
    """Every file the rules keep, relative to the root (the tree that just came back)."""
    found = []
    root = str(rules.root)
    for folder, dirs, files in os.walk(root):
        base = os.path.relpath(folder, root).replace(os.sep, "/")
        prefix = "" if base == "." else base + "/"
        dirs[:] = [d for d in dirs if not rules.ignored_dir(prefix + d)]
        found += [prefix + f for f in files if not rules.ignored_file(prefix + f)]
    return found


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
