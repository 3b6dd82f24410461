"""The helpers both providers share: plain tests, no engine and no cluster."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from devloop.core.changes import SyncCopy
from devloop.core.events import InstanceStatus
from devloop.core.logbuffer import LogLine
from devloop.core.services import CATALOG, ServiceSpec
from devloop.core.spec import AppSpec, ProjectSpec
from devloop.errors import DeployError
from devloop.providers.shared import (
    Background,
    bound_services,
    drain_then,
    parse_log_line,
    project_id,
    shell_argv,
    signal_argv,
    signal_name,
    split_sync,
    wait_serving,
)
from devloop.router.rotation import Backend
from devloop.router.router import Router


def test_project_id_is_stable_per_folder_and_differs_between_folders(tmp_path: Path) -> None:
    one, two = tmp_path / "shop" / "devloop.yaml", tmp_path / "blog" / "devloop.yaml"
    assert project_id(one) == project_id(tmp_path / "shop" / ".." / "shop" / "devloop.yaml")
    assert project_id(one).startswith("shop-") and len(project_id(one)) == len("shop-") + 8
    assert project_id(one) != project_id(two)


def test_project_id_keeps_only_the_first_20_characters_of_the_folder(tmp_path: Path) -> None:
    folder = tmp_path / ("a" * 30)
    assert project_id(folder / "devloop.yaml").split("-")[0] == "a" * 20


def test_bound_services_come_in_the_apps_order(tmp_path: Path) -> None:
    db, cache = ServiceSpec("db", CATALOG["postgres"]), ServiceSpec("cache", CATALOG["redis"])
    app = AppSpec("web", tmp_path, services=("cache", "db"))
    project = ProjectSpec(tmp_path / "devloop.yaml", (app,), services=(db, cache))
    assert bound_services(project, app) == [cache, db]
    assert bound_services(project, AppSpec("worker", tmp_path)) == []


def test_a_service_the_project_lacks_is_a_deploy_error_naming_it(tmp_path: Path) -> None:
    app = AppSpec("web", tmp_path, services=("db",))
    with pytest.raises(DeployError, match=r"^web binds service 'db', which is not defined$"):
        bound_services(ProjectSpec(tmp_path / "devloop.yaml", (app,)), app)


def test_a_sync_splits_into_files_to_copy_and_paths_to_delete(tmp_path: Path) -> None:
    (tmp_path / "kept.py").write_text("x")
    (tmp_path / "folder").mkdir()
    copies = [SyncCopy("kept.py", "/app/kept.py"), SyncCopy("gone.py", "/app/gone.py"),
              SyncCopy("folder", "/app/folder")]  # fmt: skip
    present, gone = split_sync(AppSpec("web", tmp_path), iter(copies))
    assert present == [copies[0]]
    assert gone == ["/app/gone.py"]  # a folder is neither: it exists, and is no file to copy


@pytest.mark.parametrize(
    ("given", "name"), [("SIGHUP", "HUP"), ("sighup", "HUP"), ("hup", "HUP"), ("USR1", "USR1")]
)
def test_signal_names_lose_their_sig_prefix(given: str, name: str) -> None:
    assert signal_name(given) == name
    assert signal_argv(given) == ["/bin/sh", "-c", f"kill -{name} 1"]


@pytest.mark.parametrize(
    ("command", "argv"), [(None, ["/bin/sh"]), ("", ["/bin/sh"]), ("ls -l", ["/bin/sh", "-c", "ls -l"])]
)
def test_shell_argv(command: str | None, argv: list[str]) -> None:
    assert shell_argv(command) == argv


WEB0 = InstanceStatus("web", 0, "c0ffee", "running")
WORKER1 = InstanceStatus("web", 1, "beef", "running", process="worker")


@pytest.mark.parametrize(
    ("instance", "text", "line"),
    [
        (WEB0, "2024-05-01T10:00:00.000000001Z hello world",
         LogLine("web", "APP", "hello world", 0, "c0ffee", 1714557600000000001)),
        (WORKER1, "2024-05-01T10:00:00Z done",
         LogLine("web", "APP", "done", 1, "beef", 1714557600000000000, "worker")),
        (WEB0, "no timestamp here", LogLine("web", "APP", "no timestamp here", 0, "c0ffee")),
        (WEB0, "", LogLine("web", "APP", "", 0, "c0ffee")),
    ],
)  # fmt: skip
def test_a_log_line_is_split_at_its_timestamp(instance: InstanceStatus, text: str, line: LogLine) -> None:
    assert parse_log_line(instance, text) == line


async def test_wait_serving_returns_once_the_instance_serves() -> None:
    answers = iter([False, False, True])
    asked = []

    async def serving() -> bool:
        asked.append(1)
        return next(answers)

    await wait_serving(serving, timeout_s=10, poll_s=0, failure="never")
    assert len(asked) == 3


async def test_wait_serving_gives_up_with_the_failure_after_the_timeout() -> None:
    async def serving() -> bool:
        return False

    with pytest.raises(DeployError, match=r"^web/0 did not serve again$"):
        await wait_serving(serving, timeout_s=0, poll_s=0, failure="web/0 did not serve again")


async def test_a_drain_stops_the_instances_only_after_their_requests_finish() -> None:
    backend = Backend("127.0.0.1", 1, "0")
    backend.begin()  # a request in flight
    stopped = asyncio.Event()

    async def stop() -> None:
        stopped.set()

    background = Background()
    background.spawn(drain_then(Router(), [backend], 10, stop))
    assert len(background) == 1
    await asyncio.sleep(0)  # the drain runs up to its wait for the request
    assert not stopped.is_set()
    backend.end()
    await background.finish()
    assert stopped.is_set() and len(background) == 0


async def test_a_drain_that_times_out_still_stops_the_instances() -> None:
    backend = Backend("127.0.0.1", 1, "0")
    backend.begin()  # never ends
    stopped = asyncio.Event()

    async def stop() -> None:
        stopped.set()

    await drain_then(Router(), [backend], 0, stop)
    assert stopped.is_set()


async def test_background_tasks_are_cancelled_on_request_and_their_errors_never_raise() -> None:
    forever = asyncio.Event()
    background = Background()

    async def waits() -> None:
        await forever.wait()

    async def fails() -> None:
        raise RuntimeError("boom")

    background.spawn(waits())
    background.spawn(fails())
    await background.cancel()
    assert len(background) == 0
