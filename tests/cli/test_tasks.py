"""`devloop task`'s command line: how COMMAND and --name become the task to run, and the refusals."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from devloop.cli import cli
from devloop.cli.tasks import task_of
from devloop.core.spec import AppSpec, ProcessSpec, TaskSpec
from devloop.errors import UsageError

APP = AppSpec("web", Path("/app"), tasks=(TaskSpec("migrate", "python migrate.py", before_start=True,
                                                   memory_mb=64),),
              processes=(ProcessSpec("clock", "python clock.py", instances=0),))  # fmt: skip


@pytest.mark.parametrize(
    ("command", "name", "expected"),
    [
        (("python migrate.py",), "m1", TaskSpec("m1", "python migrate.py")),  # one word: a shell command
        (("sh", "-c", "echo hi; exit 3"), "t", TaskSpec("t", "sh -c 'echo hi; exit 3'")),  # words: quoted back
        ((), "migrate", TaskSpec("migrate", "python migrate.py", memory_mb=64)),  # the config's, run now
        ((), "clock", TaskSpec("clock", "python clock.py")),  # a process type as the template
        (("echo", "x"), "migrate", TaskSpec("migrate", "echo x", memory_mb=64)),  # its memory, another command
    ],
)  # fmt: skip
def test_the_task_to_run(command: tuple[str, ...], name: str, expected: TaskSpec) -> None:
    assert task_of(APP, command, name) == expected


def test_no_name_gets_a_generated_one() -> None:
    task = task_of(APP, ("true",), None)
    assert len(task.name) == 8 and task.command == "true" and not task.before_start


@pytest.mark.parametrize(
    ("command", "name", "message"),
    [
        ((), None, "give the command after `--`"),
        ((), "nope", "web has no task or process type 'nope'; tasks: migrate, clock"),
        (("true",), "Bad_Name", "invalid task name 'Bad_Name'"),
    ],
)
def test_refusals_say_the_fix(command: tuple[str, ...], name: str | None, message: str) -> None:
    with pytest.raises(UsageError) as raised:
        task_of(APP, command, name)
    assert message in raised.value.render()


def test_the_command_is_in_the_cli_and_unknown_apps_are_one_message(tmp_path: Path) -> None:
    (tmp_path / "devloop.yaml").write_text("provider: docker\napps: [{name: web, image: busybox:1.36}]\n")
    runner = CliRunner()
    with runner.isolated_filesystem(temp_dir=tmp_path):
        help_text = runner.invoke(cli, ["task", "--help"]).output
        assert "cf run-task" in help_text and "--name" in help_text
        result = runner.invoke(cli, ["task", "-f", str(tmp_path / "devloop.yaml"), "api", "--", "true"])
    assert result.exit_code != 0 and "no app named api; apps here: web" in str(result.exception)


async def test_the_image_is_the_running_ones_else_built_as_devloop_build_does(tmp_path: Path) -> None:
    from devloop.cli.tasks import image_for
    from devloop.core.spec import BuildSpec
    from tests.fakes.builder import FakeBuilder
    from tests.fakes.provider import FakeProvider

    app = AppSpec("web", tmp_path, BuildSpec(tmp_path, tmp_path / "Dockerfile"))
    provider, builder = FakeProvider(), FakeBuilder()
    built = await image_for(provider, app, lambda: builder)
    assert builder.started == ["web"] and built == builder.finished[0][1]
    assert provider.called("deliver") == ["web"]  # delivered to the platform as a deploy would
    provider.deployed.append(("web", "devloop/web:running"))
    assert await image_for(provider, app, lambda: builder) == "devloop/web:running"
    assert builder.started == ["web"]  # nothing built: the instances' image


async def test_the_output_masks_env_file_secrets_and_bound_service_passwords(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from devloop.cli.tasks import Sink
    from devloop.core.credentials import MASK
    from devloop.core.logbuffer import LogLine
    from devloop.core.services import ServiceSpec, exact_type
    from devloop.core.spec import ProjectSpec
    from devloop.engine.history import LogHistory
    from devloop.engine.recorder import logs_dir
    from devloop.fs import state_home
    from devloop.providers.shared import project_id
    from tests.fakes.provider import FakeProvider

    class Passwords(FakeProvider):
        async def service_password(self, service: ServiceSpec) -> str | None:
            return "pw-of-db-1234" if service.name == "db" else "pw-of-other"

    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    kind = exact_type("postgres")
    assert kind is not None
    app = AppSpec("web", tmp_path, secret_env=(("TOKEN", "tok-s3cr3t"),), services=("db",))
    project = ProjectSpec(tmp_path / "devloop.yaml", (app,), services=(ServiceSpec("db", kind),
                                                                        ServiceSpec("other", kind)))  # fmt: skip
    sink = Sink(project, app, TaskSpec("t", "true"))
    await sink.mask_service_passwords(Passwords())
    sink.line(LogLine("web", "APP/TASK/t", "postgres://u:pw-of-db-1234@db/x tok-s3cr3t pw-of-other"))
    sink.close()
    out = capsys.readouterr().out
    assert out == f"[APP/TASK/t] web | postgres://u:{MASK}@db/x {MASK} pw-of-other\n"  # another app's: not its
    stored = [line.text for line in LogHistory(logs_dir(state_home(), project_id(project.file))).lines()]
    assert stored == [f"postgres://u:{MASK}@db/x {MASK} pw-of-other"]


async def test_beside_a_running_up_the_lines_and_the_end_reach_its_stream_over_the_socket(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The real control socket between `devloop task`'s sink and an engine (fake provider and builder)."""
    import asyncio

    from devloop.cli.tasks import Sink
    from devloop.core import events as ev
    from devloop.core.credentials import MASK
    from devloop.core.logbuffer import LogLine
    from devloop.core.spec import ProjectSpec
    from devloop.engine.control import ControlServer, socket_path
    from devloop.engine.loop import Engine
    from devloop.providers.shared import project_id
    from tests.fakes.builder import FakeBuilder
    from tests.fakes.provider import FakeProvider
    from tests.helpers import async_wait_until

    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "run"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    app = AppSpec("web", tmp_path, secret_env=(("TOKEN", "tok-s3cr3t"),))
    project = ProjectSpec(tmp_path / "devloop.yaml", (app,))
    engine = Engine(project, FakeProvider(), FakeBuilder(), watch=False)
    finished: list[ev.Event] = []
    engine.subscribe(lambda _state, event: finished.append(event) if isinstance(event, ev.TaskFinished) else None)
    server = ControlServer(socket_path(project_id(project.file)), engine.command)
    await server.start()
    loop = asyncio.create_task(engine.run())
    try:
        sink = await asyncio.to_thread(Sink, project, app, TaskSpec("seed", "true"))
        assert sink.remote and sink.recorder is None  # it found the running up
        sink.line(LogLine("web", "APP/TASK/seed", "seeded with tok-s3cr3t", timestamp_ns=5))
        await sink.flush(exit_code=0)
        await async_wait_until(lambda: finished or None, timeout=5, what="the task's end in the engine")
        lines = [(line.tag, line.text) for line in engine.logs.lines("web")]
        assert ("APP/TASK/seed", f"seeded with {MASK}") in lines  # masked before it left
        assert ("API", "task seed succeeded") in lines
        assert finished == [ev.TaskFinished("web", "seed", 0)]
        assert f"[APP/TASK/seed] web | seeded with {MASK}" in capsys.readouterr().out
    finally:
        engine.stop()
        await asyncio.wait_for(loop, 5)
        await server.close()
