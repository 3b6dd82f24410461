"""`devloop up`: the composed engine with the plain printer or the dashboard, signals, a clean exit."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from collections.abc import Callable
from pathlib import Path

import click

from devloop.cli.context import CliContext, Stack, compose, config_options, registry_option, select_apps
from devloop.cli.printer import PlainPrinter
from devloop.core.debug import with_debug
from devloop.core.events import PlatformFailed
from devloop.core.removal import describe_removal
from devloop.core.spec import ProjectSpec
from devloop.engine.control import ControlServer, socket_path
from devloop.engine.loop import Engine
from devloop.engine.recorder import Recorder
from devloop.errors import UsageError
from devloop.fs import state_home
from devloop.images.auto import AutoPrune
from devloop.images.auto import enabled as auto_prune_enabled
from devloop.providers.shared import project_id

NO_BUILDKIT = "this docker client has no BuildKit; builds use the legacy builder"


@click.command("up")
@config_options
@registry_option
@click.option(
    "--no-tui", is_flag=True, help="Plain streamed output (the default when stdout is not a terminal)."
)
@click.option("--down-on-exit", is_flag=True, help="Remove the apps when devloop stops.")
@click.option("--manual", is_flag=True, help="Queue changes instead of rebuilding on every save.")
@click.option("--no-watch", is_flag=True, help="Deploy once and follow logs; do not watch files.")
@click.option("--no-router-logs", is_flag=True, help="Leave the router's [RTR] access lines out.")
@click.option("--debug", is_flag=True, help="Run the apps (or the APPs named) under their debugger.")
@click.option("--debug-wait", is_flag=True, help="As --debug, paused until a debugger attaches.")
@click.argument("apps", nargs=-1)
def up_command(
    config: CliContext,
    no_tui: bool,
    down_on_exit: bool,
    manual: bool,
    no_watch: bool,
    no_router_logs: bool,
    debug: bool,
    debug_wait: bool,
    apps: tuple[str, ...],
) -> None:
    """Build, deploy and follow the apps; rebuild or sync on every save (Ctrl-C to stop).

    `devloop up --debug [APP...]` starts the apps named (all when none) under their runtime's
    debugger, each instance's debug port on a stable 127.0.0.1 port."""
    if apps and not (debug or debug_wait):
        raise UsageError("app names go with --debug (`devloop up --debug web`); `devloop up` runs every app")
    project = config.load()
    if debug or debug_wait:
        names = tuple(a.name for a in select_apps(project, apps)) if apps else ()
        loaded = config.load
        project = with_debug(project, names, debug_wait)

        def reload() -> ProjectSpec:
            return with_debug(loaded(quiet=True), names, debug_wait)
    else:

        def reload() -> ProjectSpec:
            return config.load(quiet=True)
    tui = not no_tui and sys.stdout.isatty() and sys.stdin.isatty()
    code = run_up(
        project,
        compose(project, no_buildkit_warning=NO_BUILDKIT),
        down_on_exit=down_on_exit,
        manual=manual,
        watch=not no_watch,
        tui=tui,
        router_logs=not no_router_logs,
        reloader=reload,
        config_files=config.vars_files,
    )
    sys.exit(code)


def run_up(
    project: ProjectSpec,
    stack: Stack,
    *,
    down_on_exit: bool,
    manual: bool,
    watch: bool,
    tui: bool = False,
    router_logs: bool = True,
    reloader: Callable[[], ProjectSpec] | None = None,
    config_files: tuple[Path, ...] = (),
) -> int:
    engine = Engine(
        project, stack.provider, stack.builder, watch=watch, manual=manual, reloader=reloader,
        config_files=(project.file, *config_files), router=stack.router,
    )  # fmt: skip
    recorder = Recorder(project, state_home(), project_id(project.file))
    engine.logs.subscribe(recorder.line)
    engine.subscribe(recorder.event)
    engine.spawn(recorder.flush_every(), "flush the log history")
    if auto_prune_enabled():  # the disk budget after each deploy, beside the loop
        engine.subscribe(AutoPrune(project, engine.api).listener)
    try:
        if tui:
            return asyncio.run(
                _run_tui(engine, recorder, down_on_exit=down_on_exit, router_logs=router_logs)
            )
        return asyncio.run(_run(engine, down_on_exit=down_on_exit, router_logs=router_logs))
    finally:
        engine.drop_unstarted()
        recorder.close()


async def _run_tui(engine: Engine, recorder: Recorder, *, down_on_exit: bool, router_logs: bool) -> int:
    """The dashboard; the terminal is Textual's until it exits, then plain lines again."""
    from devloop.ui.app import DevloopApp  # Textual only when the dashboard runs, not in plain mode

    project, provider = engine.project, engine.provider
    control = ControlServer(socket_path(project_id(project.file)), engine.command)
    await control.start()
    app = DevloopApp(engine, timeline=recorder, confirm_remove=down_on_exit, router_logs=router_logs)
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, lambda: app.exit(down_on_exit))
    runner = asyncio.create_task(engine.run())
    runner.add_done_callback(lambda _task: app.exit(False))  # the engine stopped by itself
    remove = False
    try:
        remove = bool(await app.run_async())
    finally:
        loop.remove_signal_handler(signal.SIGTERM)
        engine.stop()
        with contextlib.suppress(asyncio.CancelledError):
            await runner
        if remove:  # the whole project, services too, as `devloop down` does
            click.echo(describe_removal(await provider.remove(None)))
        await control.close()
        await provider.close()
    if not remove:
        print_left_running(engine)
    return 0


def print_left_running(engine: Engine) -> None:
    for name in engine.state.order:
        app = engine.state.apps[name]
        addresses = [i.address for i in app.instances if i.address and i.state == "running"]
        if addresses:
            click.echo(f"{name} keeps running at {', '.join(addresses)} (`devloop down` removes it)")


async def _run(engine: Engine, *, down_on_exit: bool, router_logs: bool) -> int:
    project, provider = engine.project, engine.provider
    control = ControlServer(socket_path(project_id(project.file)), engine.command)
    await control.start()
    printer = PlainPrinter()
    engine.subscribe(printer.event)
    failed: list[int] = []

    def on_platform_failed(_state: object, event: object) -> None:
        # Nothing can deploy without the platform: say so (the printer did) and stop.
        if isinstance(event, PlatformFailed):
            failed.append(event.exit_code)
            engine.stop()

    engine.subscribe(on_platform_failed)
    engine.logs.subscribe(printer.line if router_logs else printer.line_unless_router)
    loop = asyncio.get_running_loop()
    signals = 0
    runner = asyncio.create_task(engine.run())

    def on_signal(signum: int) -> None:
        nonlocal signals
        signals += 1
        if signals == 1:
            click.echo(f"\n{signal.Signals(signum).name}: stopping (again to stop at once)", err=True)
            engine.stop()
        else:
            runner.cancel()

    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, on_signal, signum)
    try:
        with contextlib.suppress(asyncio.CancelledError):
            await runner
        if down_on_exit:  # the whole project, services too, as `devloop down` does
            click.echo(describe_removal(await provider.remove(None)))
        else:
            print_left_running(engine)
    finally:
        await control.close()
        await provider.close()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
    if failed:
        return failed[0]
    return 130 if signals else 0
