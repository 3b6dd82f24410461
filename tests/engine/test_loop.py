"""The engine's shell with a fake provider and a fake builder: what a file batch starts, what a second
batch does to a running build, how a failure is reported and retried, and where commands land.

No Docker and no sleeps: each test runs the engine's loop as a task and waits (with a
deadline) for the state or the fakes' records to say what happened.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from devloop.core import events as ev
from devloop.core.control import Accepted, Answer, Refused, Restart
from devloop.core.spec import AppSpec, BuildSpec, ProjectSpec
from devloop.core.state import Phase
from devloop.engine.loop import Engine
from devloop.errors import BuildError, DeployError, DockerUnavailableError
from tests.fakes.builder import FakeBuilder
from tests.fakes.provider import FakeProvider
from tests.helpers import async_wait_until

CHANGE = frozenset({"app.py"})


def app(folder: Path, name: str = "web", **options: object) -> AppSpec:
    return AppSpec(name, folder, BuildSpec(folder, folder / "Dockerfile"), **options)  # type: ignore[arg-type]


class Running:
    """An engine whose loop runs as a task, with its fakes."""

    def __init__(self, engine: Engine, provider: FakeProvider, builder: FakeBuilder) -> None:
        self.engine, self.provider, self.builder = engine, provider, builder

    def phase(self, name: str = "web") -> Phase:
        return self.engine.state.apps[name].phase

    async def until(self, check: Callable[[], object], what: str) -> None:
        await async_wait_until(lambda: bool(check()) or None, timeout=5, what=what)

    def lines(self, name: str = "web") -> list[str]:
        return [line.text for line in self.engine.logs.lines(name)]

    def restart(self, name: str) -> Answer:
        """`devloop restart`: the one command with no event of its own."""
        return self.engine.command(Restart(name))


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    return tmp_path


@pytest.fixture
async def running(folder: Path) -> AsyncIterator[Running]:
    provider, builder = FakeProvider(), FakeBuilder()
    engine = Engine(ProjectSpec(folder / "devloop.yaml", (app(folder),)), provider, builder, watch=False)
    task = asyncio.create_task(engine.run())
    yield Running(engine, provider, builder)
    engine.stop()
    await asyncio.wait_for(task, 5)


async def started(folder: Path, *apps: AppSpec) -> tuple[Running, asyncio.Task[None]]:
    provider, builder = FakeProvider(), FakeBuilder()
    engine = Engine(ProjectSpec(folder / "devloop.yaml", apps), provider, builder, watch=False)
    return Running(engine, provider, builder), asyncio.create_task(engine.run())


async def test_a_change_batch_builds_then_deploys_the_new_image(running: Running) -> None:
    await running.until(lambda: running.phase() is Phase.RUNNING, "the first build and deploy")
    assert running.builder.started == ["web"]
    first = running.builder.finished[0][1]
    assert running.provider.deployed == [("web", first)] and running.provider.called("deliver") == ["web"]
    running.engine.post(ev.FilesChanged("web", CHANGE))
    await running.until(lambda: len(running.provider.deployed) == 2, "the rebuilt image deployed")
    second = running.builder.finished[1][1]
    assert second != first and running.provider.deployed[1] == ("web", second)
    assert running.engine.state.apps["web"].deployed_image == second
    assert running.engine.state.apps["web"].running == 1  # the fake's instance, seen through the watch


async def test_a_batch_during_a_build_cancels_it_and_builds_again_once(running: Running) -> None:
    await running.until(lambda: running.phase() is Phase.RUNNING, "the first deploy")
    running.builder.hold("web")
    running.engine.post(ev.FilesChanged("web", CHANGE))
    await running.until(lambda: running.builder.started.count("web") == 2, "the second build to start")
    running.engine.post(ev.FilesChanged("web", frozenset({"other.py"})))
    await running.until(lambda: running.builder.cancelled == ["web"], "the stale build cancelled")
    await running.until(lambda: running.builder.started.count("web") == 3, "a build of the newest files")
    running.builder.release("web")
    await running.until(lambda: len(running.provider.deployed) == 2, "the newest image deployed")
    assert running.builder.cancelled == ["web"] and len(running.builder.finished) == 2
    assert running.provider.deployed[1][1] == running.builder.finished[1][1]  # never the cancelled one


async def test_a_failing_build_is_reported_and_retried_on_the_next_save(running: Running) -> None:
    await running.until(lambda: running.phase() is Phase.RUNNING, "the first deploy")
    good = running.provider.deployed[0][1]
    failure = BuildError("web: build failed at step RUN pip install: exit 1", last_lines=("No matching dist",))
    running.builder.script("web", failure)
    running.engine.post(ev.FilesChanged("web", CHANGE))
    await running.until(lambda: running.phase() is Phase.FAILED, "the build failure in the state")
    state = running.engine.state.apps["web"]
    assert state.last_error == str(failure) and state.error_lines == ("No matching dist",)
    assert state.deployed_image == good and len(running.provider.deployed) == 1  # the old one serves on
    running.engine.post(ev.FilesChanged("web", CHANGE))  # the fix, saved
    await running.until(lambda: running.phase() is Phase.RUNNING and len(running.provider.deployed) == 2,
                        "the fixed build deployed")  # fmt: skip
    assert running.engine.state.apps["web"].last_error is None and running.builder.started.count("web") == 3


async def test_a_failed_deploy_keeps_its_lines_and_is_not_retried_until_asked(running: Running) -> None:
    await running.until(lambda: running.phase() is Phase.RUNNING, "the first deploy")
    running.provider.fail("deploy", DeployError("web: no instance became healthy", ("Traceback",)))
    running.engine.post(ev.FilesChanged("web", CHANGE))
    await running.until(lambda: running.phase() is Phase.FAILED, "the deploy failure")
    assert running.engine.state.apps["web"].error_lines == ("Traceback",)
    assert running.provider.called("deploy") == ["web", "web"]
    running.engine.post(ev.TriggerRequested("web"))  # `devloop trigger`: build (cached) and deploy again
    await running.until(lambda: len(running.provider.deployed) == 2, "the triggered deploy")
    assert running.phase() is Phase.RUNNING


async def test_scale_redeploys_the_same_image_with_the_new_count(running: Running) -> None:
    await running.until(lambda: running.phase() is Phase.RUNNING, "the first deploy")
    image = running.provider.deployed[0][1]
    running.engine.post(ev.ScaleRequested("web", 3))
    await running.until(lambda: len(running.provider.deployed) == 2, "the scaled deploy")
    assert running.provider.deployed[1] == ("web", image) and running.builder.started == ["web"]
    await running.until(lambda: running.engine.state.apps["web"].running == 3, "three instances seen")


async def test_restart_reaches_the_provider_and_a_busy_app_is_refused(running: Running) -> None:
    await running.until(lambda: running.phase() is Phase.RUNNING, "the first deploy")
    assert running.restart("web") == Accepted()
    await running.until(lambda: running.provider.restarted == ["web"], "the provider's restart")
    await running.until(lambda: "restarted 1 instance(s)" in running.lines(), "the restart reported")
    running.builder.hold("web")
    running.engine.post(ev.FilesChanged("web", CHANGE))
    await running.until(lambda: running.phase() is Phase.BUILDING, "a build")
    answer = running.restart("web")
    assert isinstance(answer, Refused) and "busy (building)" in answer.error and running.provider.restarted == ["web"]
    running.builder.release("web")


async def test_a_platform_that_is_away_is_retried_and_apps_wait_for_it(folder: Path) -> None:
    running, task = await started(folder, app(folder))
    running.provider.fail("ensure_platform", DockerUnavailableError("the Docker engine stopped answering"))
    try:
        await running.until(lambda: running.builder.finished, "the build, which needs no platform")
        assert running.provider.deployed == []  # nothing deploys before the platform is ready
        await running.until(lambda: running.phase() is Phase.RUNNING, "the deploy once the platform answered")
        assert running.provider.called("ensure_platform") == ["", ""]
        assert any("stopped answering; retrying in 0.5s" in text for text in running.lines("devloop"))
    finally:
        running.engine.stop()
        await asyncio.wait_for(task, 5)


async def test_builds_run_two_at_a_time_and_a_dependent_deploys_after_its_dependency(folder: Path) -> None:
    apps = (app(folder, "api"), app(folder, "web", depends_on=("api",)), app(folder, "worker"))
    running, task = await started(folder, *apps)
    for name in ("api", "web", "worker"):
        running.builder.hold(name)
    try:
        await running.until(lambda: len(running.builder.started) == 2, "two builds")
        assert running.builder.started == ["api", "web"]  # the third waits for a free slot
        running.provider.hold("api")
        running.builder.release("api")
        await running.until(lambda: running.builder.started == ["api", "web", "worker"], "the third build")
        running.builder.release("web")
        await running.until(lambda: running.engine.state.apps["web"].image, "web's image")
        assert running.provider.called("deploy") == ["api"]  # web waits for api to serve
        running.provider.release("api")
        await running.until(lambda: running.phase("web") is Phase.RUNNING, "web deployed after api")
        assert [a for a, _image in running.provider.deployed] == ["api", "web"]
        running.builder.release("worker")
    finally:
        running.engine.stop()
        await asyncio.wait_for(task, 5)


async def test_shutdown_cancels_a_running_build_and_closes_nothing_it_does_not_own(folder: Path) -> None:
    running, task = await started(folder, app(folder))
    running.builder.hold("web")
    await running.until(lambda: running.builder.started, "the build")
    running.engine.stop()
    await asyncio.wait_for(task, 5)
    assert running.builder.cancelled == ["web"] and running.provider.deployed == []
    assert running.provider.closed is False  # closing the provider is the caller's (cli) job
