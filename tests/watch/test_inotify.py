"""The pruned inotify observer alone (Linux): watches only where the pruner allows, limits reported."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest
from watchdog.events import FileSystemEventHandler

from devloop.watch.inotify import PrunedInotifyObserver, count_inotify_watches
from devloop.watch.observer import EVENT_FILTER, Pruners, new_observer


def test_the_factory_gives_linux_the_pruned_observer_with_the_watchers_pruners() -> None:
    pruners: Pruners = {}
    observer = new_observer(pruners)
    assert isinstance(observer, PrunedInotifyObserver) and observer.pruners is pruners


def test_pruned_folders_get_no_watch(tmp_path: Path) -> None:
    for folder in ("keep/a", "keep/b", "skip/deep/er"):
        (tmp_path / folder).mkdir(parents=True)
    pruners: Pruners = {str(tmp_path): (lambda path: os.path.basename(path) == b"skip", lambda _path: None)}
    observer = new_observer(pruners)
    before = count_inotify_watches()
    observer.start()
    try:
        observer.schedule(FileSystemEventHandler(), str(tmp_path), recursive=True, event_filter=EVENT_FILTER)
        assert count_inotify_watches() - before == 4  # root, keep, keep/a, keep/b
    finally:
        observer.stop()
        observer.join(timeout=5)


def test_the_watch_limit_goes_to_the_limit_handler_not_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from watchdog.observers.inotify_c import InotifyFD

    (tmp_path / "big").mkdir()
    original = InotifyFD.add_callback

    def limited(self, path, mask, callback, id_):  # type: ignore[no-untyped-def]
        if path.endswith(b"/big"):
            raise OSError(errno.ENOSPC, "No space left on device")
        return original(self, path, mask, callback, id_)

    monkeypatch.setattr(InotifyFD, "add_callback", limited)
    refused: list[bytes] = []
    observer = new_observer({str(tmp_path): (lambda _path: False, refused.append)})
    observer.start()
    try:
        observer.schedule(FileSystemEventHandler(), str(tmp_path), recursive=True, event_filter=EVENT_FILTER)
        assert refused == [os.fsencode(tmp_path / "big")]
    finally:
        observer.stop()
        observer.join(timeout=5)
