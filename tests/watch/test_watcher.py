"""Real files, real inotify: pruning, both ignore dialects, debouncing, new and deleted folders.

The rules alone are in test_rules.py, the debouncer alone in test_debounce.py.
"""

from __future__ import annotations

import asyncio
import errno
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from devloop.core.spec import AppSpec, BuildSpec, Language
from devloop.watch.inotify import count_inotify_watches
from devloop.watch.watcher import ChangeBatch, Watcher

BATCH_TIMEOUT = 10.0


def python_app(folder: Path, name: str = "web") -> AppSpec:
    (folder / "requirements.txt").write_text("")
    return AppSpec(name, folder, BuildSpec(folder, dockerfile=None, language=Language.PYTHON))


def dockerfile_app(folder: Path, name: str = "web") -> AppSpec:
    (folder / "Dockerfile").write_text("FROM python:3.12-slim\n")
    return AppSpec(name, folder, BuildSpec(folder, dockerfile=folder / "Dockerfile"))


async def next_batch(watcher: Watcher) -> ChangeBatch:
    return await asyncio.wait_for(watcher.batches.get(), BATCH_TIMEOUT)


async def settle(watcher: Watcher, folder: Path, name: str = "sentinel.txt") -> ChangeBatch:
    """Write a sentinel and return the batch holding it: any earlier batch was already queued."""
    (folder / name).write_text("sentinel")
    return await next_batch(watcher)


@pytest.fixture
async def started() -> AsyncIterator[list[Watcher]]:
    watchers: list[Watcher] = []
    yield watchers
    for watcher in watchers:
        await watcher.stop()


async def start(watchers: list[Watcher], *apps: AppSpec, quiet_s: float = 0.1) -> Watcher:
    watcher = Watcher(apps, quiet_s=quiet_s)
    await watcher.start()
    watchers.append(watcher)
    return watcher


async def test_ignored_folders_cost_no_watches(tmp_path: Path, started: list[Watcher]) -> None:
    app = dockerfile_app(tmp_path)
    (tmp_path / ".dockerignore").write_text("dist\n")
    (tmp_path / ".gitignore").write_text("coverage/\n")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / ".gitignore").write_text("generated/\n")
    for folder in [
        "src/a",
        "src/b",
        "sub/keep",
        "sub/generated/x",
        "dist/y",
        "coverage/z",
        ".git/objects",
        "node_modules/p/q",
        "__pycache__",
    ]:
        (tmp_path / folder).mkdir(parents=True)
    before = count_inotify_watches()
    await start(started, app)
    # root, src, src/a, src/b, sub, sub/keep
    assert count_inotify_watches() - before == 6


async def test_burst_is_one_batch(tmp_path: Path, started: list[Watcher]) -> None:
    app = python_app(tmp_path)
    for i in range(10):
        (tmp_path / f"pkg{i}").mkdir()
    watcher = await start(started, app, quiet_s=0.2)
    for i in range(1000):
        (tmp_path / f"pkg{i % 10}" / f"f{i}.py").write_text(str(i))
    batch = await next_batch(watcher)
    assert batch.app == "web" and len(batch.files) == 1000
    assert (await settle(watcher, tmp_path)).files == {"sentinel.txt"}


async def test_docker_and_git_dialects_differ(tmp_path: Path, started: list[Watcher]) -> None:
    app = dockerfile_app(tmp_path)
    (tmp_path / ".dockerignore").write_text("*.tmplog\n")  # Docker: root only
    (tmp_path / ".gitignore").write_text("*.gitlog\n")  # git: any depth
    (tmp_path / "deep").mkdir()
    watcher = await start(started, app)
    for name in ["a.tmplog", "deep/b.tmplog", "c.gitlog", "deep/d.gitlog"]:
        (tmp_path / name).write_text("x")
    batch = await settle(watcher, tmp_path)
    assert batch.files == {"deep/b.tmplog", "sentinel.txt"}


async def test_editor_temp_files_never_trigger(tmp_path: Path, started: list[Watcher]) -> None:
    app = python_app(tmp_path)
    watcher = await start(started, app)
    for name in [".app.py.swp", ".app.py.swx", "app.py~", "4913", ".#app.py", "#app.py#"]:
        (tmp_path / name).write_text("x")
    assert (await settle(watcher, tmp_path)).files == {"sentinel.txt"}


async def test_new_folders_are_watched_and_deleted_ones_dropped(
    tmp_path: Path, started: list[Watcher]
) -> None:
    app = python_app(tmp_path)
    watcher = await start(started, app)
    base = count_inotify_watches()
    (tmp_path / "new" / "deeper").mkdir(parents=True)
    (tmp_path / "new" / "deeper" / "mod.py").write_text("x")
    assert "new/deeper/mod.py" in (await next_batch(watcher)).files
    assert count_inotify_watches() == base + 2
    (tmp_path / "new" / "deeper" / "mod.py").write_text("changed")  # the new folder itself reports
    assert (await next_batch(watcher)).files == {"new/deeper/mod.py"}
    shutil.rmtree(tmp_path / "new")
    assert "new/deeper/mod.py" in (await next_batch(watcher)).files
    assert count_inotify_watches() == base
    # An ignored folder created later is not watched either.
    (tmp_path / "node_modules" / "pkg").mkdir(parents=True)
    (tmp_path / "node_modules" / "pkg" / "index.js").write_text("x")
    assert (await settle(watcher, tmp_path)).files == {"sentinel.txt"}
    assert count_inotify_watches() == base


async def test_each_app_gets_its_own_batches(tmp_path: Path, started: list[Watcher]) -> None:
    (tmp_path / "api").mkdir()
    api = python_app(tmp_path / "api", "api")
    (tmp_path / "web").mkdir()
    web = python_app(tmp_path / "web", "web")
    watcher = await start(started, api, web)
    (tmp_path / "api" / "a.py").write_text("x")
    first = await next_batch(watcher)
    (tmp_path / "web" / "w.py").write_text("x")
    second = await next_batch(watcher)
    (tmp_path / "outside.txt").write_text("x")  # in no app: ignored
    assert (first.app, first.files) == ("api", {"a.py"})
    assert (second.app, second.files) == ("web", {"w.py"})
    assert (await settle(watcher, tmp_path / "web")).files == {"sentinel.txt"}


async def test_watch_limit_falls_back_to_polling_with_the_fix(
    tmp_path: Path, started: list[Watcher], monkeypatch: pytest.MonkeyPatch
) -> None:
    from watchdog.observers.inotify_c import InotifyFD

    app = python_app(tmp_path)
    (tmp_path / "big" / "inner").mkdir(parents=True)
    original = InotifyFD.add_callback

    def limited(self, path, mask, callback, id_):  # type: ignore[no-untyped-def]
        if b"/big" in path:  # the kernel refuses more watches from here on
            raise OSError(errno.ENOSPC, "No space left on device")
        return original(self, path, mask, callback, id_)

    monkeypatch.setattr(InotifyFD, "add_callback", limited)
    watcher = await start(started, app)
    notice = await asyncio.wait_for(watcher.notices.get(), BATCH_TIMEOUT)
    assert "inotify watch limit reached" in notice and str(tmp_path / "big") in notice
    assert "sudo sysctl fs.inotify.max_user_watches=524288" in notice
    (tmp_path / "big" / "inner" / "f.py").write_text("x")  # seen by the poller
    assert (await next_batch(watcher)).files == {"big/inner/f.py"}
    assert watcher.notices.empty()  # reported once


@pytest.mark.parametrize("inside", [True, False], ids=["config-in-the-app-folder", "config-beside-apps"])
async def test_a_saved_config_file_is_a_config_change_not_an_app_batch(
    tmp_path: Path, started: list[Watcher], inside: bool
) -> None:
    folder = tmp_path / "web"
    folder.mkdir()
    app = python_app(folder)
    config = (folder if inside else tmp_path) / "devloop.yaml"
    config.write_text("version: 1\n")
    watcher = Watcher([app], quiet_s=0.1, config_files=[config])
    await watcher.start()
    started.append(watcher)
    saved = tmp_path / "devloop.yaml.tmp"  # an editor's safe write: a temp file renamed over it
    saved.write_text("version: 1\napps: []\n")
    saved.rename(config)
    changed = await asyncio.wait_for(watcher.config_changes.get(), BATCH_TIMEOUT)
    assert changed == frozenset({str(config.parent.resolve() / "devloop.yaml")})
    batch = await settle(watcher, folder)
    assert batch.files == {"sentinel.txt"}  # the config file reached no app's batch
