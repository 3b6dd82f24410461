"""The engine's answers to typed requests, without a platform: each request type's handler,
its refusals in a user's words, and the events it posts for the loop."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path
from typing import cast

import pytest

from devloop.build.builder import ImageBuilder
from devloop.core import events as ev
from devloop.core.control import (
    Accepted,
    Refused,
    Reload,
    Reloaded,
    Restart,
    Scale,
    SetDebug,
    SetManual,
    Status,
    StatusReport,
    TaskLog,
    Trigger,
    Triggered,
)
from devloop.core.spec import AppSpec, ProcessSpec, ProjectSpec
from devloop.core.status import Counts
from devloop.engine.loop import Engine
from devloop.errors import ConfigError, Location
from devloop.providers.base import Progress, Provider
from devloop.router.router import Router
from tests.helpers import async_wait_until
from tests.ui.fake_engine import spec


class RestartingProvider:
    """Only what a restart needs: records the apps restarted, then says how many instances."""

    def __init__(self) -> None:
        self.router = Router()
        self.restarted: list[str] = []
        self.release = asyncio.Event()

    async def restart(self, app: AppSpec, progress: Progress) -> int:
        self.restarted.append(app.name)
        progress("restarting instance 0")
        await self.release.wait()
        return app.instances


class RecordingEngine(Engine):
    """The real engine with its loop not running: what handlers post is recorded."""

    posted: list[ev.Event]

    def post(self, event: ev.Event) -> None:
        self.posted.append(event)


def engine_for(*apps: AppSpec, reloader: ProjectSpec | Exception | None = None) -> RecordingEngine:
    project = ProjectSpec(Path("/src/devloop.yaml"), apps)

    def reload() -> ProjectSpec:
        if isinstance(reloader, Exception):
            raise reloader
        assert reloader is not None
        return reloader

    engine = RecordingEngine(
        project, cast(Provider, RestartingProvider()), cast(ImageBuilder, None), watch=False,
        reloader=reload if reloader is not None else None,
    )  # fmt: skip
    engine.posted = []
    return engine


def test_trigger_posts_one_request_per_app_and_all_apps_when_none_is_named() -> None:
    engine = engine_for(spec("web"), spec("worker"))
    assert engine.command(Trigger(("worker",))) == Triggered(("worker",))
    assert engine.command(Trigger()) == Triggered(("web", "worker"))
    assert engine.posted == [ev.TriggerRequested(n) for n in ("worker", "web", "worker")]
    assert engine.command(Trigger(("nope",))) == Refused("unknown app; apps here: web, worker")


def test_scale_checks_the_app_the_process_type_and_the_count_before_posting() -> None:
    worker = ProcessSpec("worker", command="./work", instances=1)
    engine = engine_for(replace(spec("web"), processes=(worker,)))
    assert engine.command(Scale("web", 3)) == Accepted()
    assert engine.command(Scale("web", memory_mb=256)) == Accepted()  # the count stays as it is
    assert engine.command(Scale("web", 0, process="worker")) == Accepted()
    assert engine.posted == [
        ev.ScaleRequested("web", 3), ev.ScaleRequested("web", 2, 256), ev.ScaleRequested("web", 0, None, "worker"),
    ]  # fmt: skip
    assert engine.command(Scale("api", 1)) == Refused("unknown app 'api'")
    assert engine.command(Scale("web", 1, process="clock")) == Refused(
        "web has no process type 'clock'; it has: web, worker"
    )
    assert engine.command(Scale("web", 101)) == Refused("instances must be 0 to 100")
    assert len(engine.posted) == 3


def test_status_is_one_row_per_app_in_config_order() -> None:
    engine = engine_for(spec("web"), spec("worker", instances=1))
    answer = engine.command(Status())
    assert isinstance(answer, StatusReport)
    assert [(row.name, row.state, row.instances) for row in answer.apps] == [
        ("web", "waiting", Counts(0, 2)), ("worker", "waiting", Counts(0, 1)),
    ]  # fmt: skip


def test_a_task_beside_the_up_joins_its_log_stream_and_its_end_the_timeline() -> None:
    engine = engine_for(spec("web"))
    assert engine.command(TaskLog("web", "migrate", ("hi", "done"), (10, 20))) == Accepted()
    assert engine.command(TaskLog("web", "migrate", exit_code=3)) == Accepted()
    lines = [(line.tag, line.text, line.timestamp_ns) for line in engine.logs.lines("web")]
    assert lines[:2] == [("APP/TASK/migrate", "hi", 10), ("APP/TASK/migrate", "done", 20)]
    assert lines[2][:2] == ("API", "task migrate failed (exit 3)")
    assert engine.posted == [ev.TaskFinished("web", "migrate", 3)]
    assert engine.command(TaskLog("api", "x")) == Refused("unknown app 'api'")
    assert engine.command(TaskLog("web", "x", ("a",), ())) == Refused("bad request: one time per line")


def test_manual_mode_is_posted() -> None:
    engine = engine_for(spec("web"))
    assert engine.command(SetManual(True)) == Accepted()
    assert engine.posted == [ev.ManualModeSet(True)]


def test_reload_posts_each_changed_app_and_names_them() -> None:
    web = spec("web")
    edited = ProjectSpec(Path("/src/devloop.yaml"), (replace(web, env=(("GREETING", "hello"),)),))
    engine = engine_for(web, reloader=edited)
    assert engine.command(Reload()) == Reloaded(("web",))
    assert engine.posted == [ev.SpecChanged("web", edited.apps[0])]
    assert engine.project.apps == edited.apps  # the config's apps are followed from now on
    assert "config changed (env): applying" in [line.text for line in engine.logs.lines("web")]


def test_reload_refuses_without_a_reloader_and_says_why_the_config_does_not_load() -> None:
    assert engine_for(spec("web")).command(Reload()) == Refused("this devloop cannot reload its config")
    broken = engine_for(spec("web"), reloader=ConfigError(Location("devloop.yaml", 3, 5), "unknown key 'instnces'"))
    assert broken.command(Reload()) == Refused("devloop.yaml:3:5: unknown key 'instnces'")


@pytest.mark.asyncio
async def test_restart_runs_beside_the_loop_and_refuses_a_second_one_meanwhile() -> None:
    engine = engine_for(spec("web"))
    provider = cast(RestartingProvider, engine.provider)
    assert engine.command(Restart("web")) == Accepted()
    await async_wait_until(lambda: provider.restarted, what="the restart to start")
    assert engine.command(Restart("web")) == Refused("web is busy (waiting); restart it once it runs")
    assert engine.command(Restart("api")) == Refused("unknown app 'api'")
    provider.release.set()
    await async_wait_until(
        lambda: "restarted 2 instance(s)" in [line.text for line in engine.logs.lines("web")], what="done"
    )
    assert engine.command(Restart("web")) == Accepted()  # free again once it finished
    provider.release.set()


def test_work_spawned_before_the_loop_runs_starts_with_it() -> None:
    engine = engine_for(spec("web"))
    started: list[str] = []

    async def note() -> None:
        started.append("flush task")
        engine.stop()

    engine.spawn(note(), "before run")  # no event loop yet: it waits for run()
    assert started == []
    asyncio.run(engine.run())
    assert started == ["flush task"]


def test_set_debug_redeploys_the_app_under_its_debugger_and_back() -> None:
    engine = engine_for(spec("web"))
    assert engine.command(SetDebug("web", True)) == Accepted()
    (changed,) = engine.posted
    assert isinstance(changed, ev.SpecChanged) and changed.spec.debug == "on"
    assert engine.project.apps[0].debug == "on"
    assert "debugging: redeploying under the debugger" in [line.text for line in engine.logs.lines("web")]
    assert engine.command(SetDebug("api", True)) == Refused("unknown app 'api'")
    assert engine.command(SetDebug("web", False)) == Accepted()  # the state still has it off: nothing posted
    assert len(engine.posted) == 1
