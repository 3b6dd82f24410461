"""Before-start tasks in the engine (fake provider, fake builder): they run from the new image
before its instances, in order; a failure holds the new version, names the task, its exit code
and last lines, and the old version keeps serving."""

from __future__ import annotations

import asyncio
from pathlib import Path

from devloop.core import events as ev
from devloop.core.spec import AppSpec, BuildSpec, ProjectSpec, TaskSpec
from devloop.core.state import Phase
from devloop.core.timeline import Timeline
from devloop.engine.loop import Engine
from tests.fakes.builder import FakeBuilder
from tests.fakes.provider import FakeProvider
from tests.helpers import async_wait_until

TASKS = (TaskSpec("migrate", "m", before_start=True), TaskSpec("seed", "s"),
         TaskSpec("warm", "w", before_start=True))  # fmt: skip


async def until(check: object, what: str) -> None:
    await async_wait_until(lambda: bool(check()) or None, timeout=5, what=what)  # type: ignore[operator]


async def test_before_start_tasks_hold_the_new_version_and_a_failure_keeps_the_old(tmp_path: Path) -> None:
    spec = AppSpec("web", tmp_path, BuildSpec(tmp_path, tmp_path / "Dockerfile"), tasks=TASKS)
    provider, builder = FakeProvider(), FakeBuilder()
    engine = Engine(ProjectSpec(tmp_path / "devloop.yaml", (spec,)), provider, builder, watch=False)
    seen: list[ev.Event] = []
    engine.subscribe(lambda _state, event: seen.append(event))
    loop = asyncio.create_task(engine.run())
    try:
        await until(lambda: engine.state.apps["web"].phase is Phase.RUNNING, "the first deploy")
        first = provider.deployed[0][1]
        # Both before-start tasks ran from the delivered image, in order, before the deploy; not `seed`.
        assert provider.tasks_run == [("web", "migrate", first), ("web", "warm", first)]
        assert provider.calls.index(("run_task", "web")) < provider.calls.index(("deploy", "web"))

        engine.post(ev.ScaleRequested("web", 2))  # the same version, more instances: no tasks again
        await until(lambda: len(provider.deployed) == 2, "the scaled deploy")
        assert len(provider.tasks_run) == 2
        first_count = len(provider.deployed)

        provider.task_codes["migrate"] = 3
        provider.task_output["migrate"] = [f"step {i}" for i in range(12)]
        engine.post(ev.FilesChanged("web", frozenset({"app.py"})))
        await until(lambda: engine.state.apps["web"].phase is Phase.FAILED, "the held deploy")
        state = engine.state.apps["web"]
        assert state.last_error == "before-start task migrate failed (exit 3): web is not started"
        assert state.error_lines == tuple(f"step {i}" for i in range(2, 12))  # its last ten lines
        assert provider.deployed[first_count:] == [] and state.deployed_image == first  # the old one serves
        assert [t for _a, t, _i in provider.tasks_run] == ["migrate", "warm", "migrate"]  # `warm` never ran
        lines = [(line.tag, line.text) for line in engine.logs.lines("web")]
        assert ("APP/TASK/migrate", "step 11") in lines  # its output is in the app's log
        finished = [e for e in seen if isinstance(e, ev.TaskFinished)]
        assert [(e.name, e.exit_code) for e in finished] == [("migrate", 0), ("warm", 0), ("migrate", 3)]
        timeline = Timeline()
        texts = [entry.text for e in finished for entry in timeline.observe(e, 1)]
        assert texts[-1] == "task migrate failed (exit 3)"
    finally:
        engine.stop()
        await asyncio.wait_for(loop, 5)
