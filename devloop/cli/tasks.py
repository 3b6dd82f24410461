"""`devloop task APP [--name N] -- COMMAND`: a one-off process in the app's current image, as
`cf run-task` runs one: with the app's env and bindings, its output tagged `[APP/TASK/N]`, and
devloop's exit code the task's.

With a `devloop up` running for the project, the output joins its log stream (and history) over the
control socket; without one, it goes into the project's history directly, so `devloop logs --recent`
and `devloop events` show it either way.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import shlex
import signal
import sys
import time
from collections.abc import Callable

import click

from devloop.build.builder import Builder
from devloop.cli.context import CliContext, config_options, make_builder, make_provider, select_apps
from devloop.cli.printer import print_build_output, use_colour
from devloop.cli.remote import running_status
from devloop.core import events as ev
from devloop.core.control import Refused, TaskLog
from devloop.core.logbuffer import LogLine
from devloop.core.logformat import format_line
from devloop.core.spec import AppSpec, ProjectSpec, TaskSpec
from devloop.core.state import EngineState
from devloop.core.tasks import check_task_name, find_task, generated_name, runnable
from devloop.engine.control import send
from devloop.engine.history import mask_order, masked
from devloop.engine.recorder import Recorder
from devloop.engine.tasks import run_task
from devloop.errors import DevloopError, UsageError
from devloop.fs import state_home
from devloop.providers.base import Provider
from devloop.providers.shared import project_id

FLUSH_S = 0.2  # lines go to a running `devloop up` in batches, this often


@click.command("task", context_settings={"ignore_unknown_options": False})
@config_options
@click.argument("app_name", metavar="APP")
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
@click.option("--name", help="The task's name (default: eight hex digits); alone, a task of the config "
              "or a process type to run.")  # fmt: skip
def task_command(config: CliContext, app_name: str, command: tuple[str, ...], name: str | None) -> None:
    """Run a one-off process in an app's current image (like `cf run-task`).

    `devloop task web -- python migrate.py`; `devloop task web --name migrate` runs a task of the config.
    """
    project = config.load()
    (app,) = select_apps(project, (app_name,))
    sys.exit(run_once(project, app, task_of(app, command, name)))


def task_of(app: AppSpec, command: tuple[str, ...], name: str | None) -> TaskSpec:
    """The task to run: COMMAND (one shell string, or words quoted back into one) named `name`, or
    the configured task or process type `name`."""
    if name is not None:
        try:
            check_task_name(name)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
    configured = find_task(app, name) if name else None
    if command:
        text = command[0] if len(command) == 1 else shlex.join(command)
        memory = configured.memory_mb if configured else None
        return TaskSpec(name or generated_name(), text, memory_mb=memory)
    known = ", ".join(runnable(app)) or "none"
    if name is None:
        example = f"e.g. devloop task {app.name} -- python migrate.py; tasks here: {known}"
        raise UsageError("give the command after `--`, or --name of a task in the config", hint=example)
    if configured is None:
        example = f"or give its command: devloop task {app.name} --name {name} -- COMMAND"
        raise UsageError(f"{app.name} has no task or process type {name!r}; tasks: {known}", hint=example)
    return dataclasses.replace(configured, before_start=False)


class Sink:
    """Where a task's lines go besides the terminal: the running `devloop up`, else the history."""

    def __init__(self, project: ProjectSpec, app: AppSpec, task: TaskSpec) -> None:
        self.project, self.app, self.task = project, app, task
        self.secrets = mask_order(value for _key, value in app.secret_env)
        self.remote = running_status(project) is not None
        self.recorder = None if self.remote else Recorder(project, state_home(), project_id(project.file))
        self.pending: list[LogLine] = []
        self._sending = asyncio.Lock()  # batches reach the running up in order, the end last

    async def mask_service_passwords(self, provider: Provider) -> None:
        """The passwords of the services the app binds join the values its output never shows."""
        known = [value for _key, value in self.app.secret_env]
        for service in self.project.services:
            if service.name in self.app.services and (password := await provider.service_password(service)):
                known.append(password)
        self.secrets = mask_order(known)

    def line(self, line: LogLine) -> None:
        shown = dataclasses.replace(line, text=masked(line.text, self.secrets))
        click.echo(format_line(shown, colour=use_colour()))
        if self.recorder is not None:
            self.recorder.line(shown)
        else:
            self.pending.append(shown)  # masked before it leaves this process

    async def flush_every(self) -> None:
        while True:
            await asyncio.sleep(FLUSH_S)
            await self.flush()

    async def flush(self, exit_code: int | None = None) -> None:
        async with self._sending:
            await self._flush(exit_code)

    async def _flush(self, exit_code: int | None) -> None:
        batch, self.pending = self.pending, []
        if not self.remote or (not batch and exit_code is None):
            return
        times = tuple(line.timestamp_ns or time.time_ns() for line in batch)
        request = TaskLog(self.app.name, self.task.name, tuple(line.text for line in batch), times, exit_code)
        try:
            answer = await asyncio.to_thread(send, project_id(self.project.file), request)
        except (DevloopError, OSError):
            answer = Refused("gone")
        if isinstance(answer, Refused):  # it stopped meanwhile: the history takes the rest
            self.remote = False
            self.recorder = Recorder(self.project, state_home(), project_id(self.project.file))
            for line in batch:
                self.recorder.line(line)
            if exit_code is not None:
                self.finished(exit_code)

    def finished(self, exit_code: int) -> None:
        if self.recorder is not None:
            self.recorder.event(EngineState.initial((), False), ev.TaskFinished(self.app.name, self.task.name,
                                                                                exit_code))  # fmt: skip

    def close(self) -> None:
        if self.recorder is not None:
            self.recorder.close()


async def image_for(provider: Provider, app: AppSpec, builder: Callable[[], Builder] = make_builder) -> str:
    """The image the app's instances run; else built as `devloop build` does and delivered."""
    image = await provider.current_image(app)
    if image is not None:
        return image
    if app.build is None:
        assert app.image is not None  # an app without a build runs a prebuilt image
        image = app.image
    else:
        image = (await builder().build(app, print_build_output)).image
    return await provider.deliver(app, image, progress)


def progress(text: str) -> None:
    click.echo(f"[API] {text}", err=True)


def run_once(project: ProjectSpec, app: AppSpec, task: TaskSpec) -> int:
    """Run the task; its exit code. Ctrl-C or SIGTERM stops it and leaves nothing behind (exit 130)."""
    provider = make_provider(project)
    sink = Sink(project, app, task)

    async def attempt() -> int:
        await provider.ensure_platform(progress)
        await sink.mask_service_passwords(provider)
        image = await image_for(provider, app)
        progress(f"running task {task.name} of {app.label}: {task.command}")
        result = await run_task(provider, app, image, task, sink.line, progress)
        await sink.flush(result.exit_code)
        if not sink.remote:
            sink.finished(result.exit_code)
        progress(result.summary())
        return result.exit_code

    async def run() -> int:
        flusher = asyncio.create_task(sink.flush_every())
        work = asyncio.create_task(attempt())
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, work.cancel)
        try:
            return await work
        except asyncio.CancelledError:
            progress(f"task {task.name} stopped; nothing of it is left running")
            return 130
        finally:
            for signum in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(signum)
            flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await flusher
            await provider.close()

    try:
        return asyncio.run(run())
    finally:
        sink.close()
