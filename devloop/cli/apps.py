"""cf's app commands beside `devloop up`: status, scale, restart, ssh and open.

Those that need live state ask the running `devloop up` over its control
socket; the rest read the config or ask the provider directly.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
import webbrowser
from typing import TYPE_CHECKING

import click

from devloop.cli.context import CliContext, config_options, make_provider, select_apps
from devloop.cli.remote import ask, running_status
from devloop.core import control
from devloop.core.events import InstancesChanged
from devloop.core.processes import process_types
from devloop.core.spec import AppSpec, ProjectSpec, parse_memory_mb
from devloop.core.status import AppStatus, snapshot_status, table, with_shown_state
from devloop.errors import ProviderError, UsageError

if TYPE_CHECKING:
    from devloop.cli.context import AnyProvider


@click.command()
@config_options
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def status(config: CliContext, as_json: bool) -> None:
    """Apps, state, instances, memory and URL (like `cf apps`)."""
    project = config.load(names_only=True)
    unrouted = frozenset(a.name for a in project.apps if a.no_route)
    print_status(status_rows(project, make_provider(project)), as_json, unrouted)


def status_rows(project: ProjectSpec, provider: AnyProvider) -> list[AppStatus]:
    """From the running `devloop up` if there is one, else what the provider has running."""
    report = running_status(project)
    if report is not None:
        return list(report.apps)

    async def snapshot() -> list[AppStatus]:
        try:
            return [snapshot_status(app, (await provider.instances(app)).instances) for app in project.apps]
        finally:
            await provider.close()

    return asyncio.run(snapshot())


def print_status(rows: list[AppStatus], as_json: bool, unrouted: frozenset[str] = frozenset()) -> None:
    if as_json:
        click.echo(json.dumps({"apps": [with_shown_state(r) for r in rows]}, indent=2))
        return
    for line in table(rows, time.time(), unrouted):
        click.echo(line)


@click.command()
@config_options
@click.argument("app")
@click.option("-i", "--instances", type=click.IntRange(0, 100), help="Number of instances.")
@click.option("-m", "--memory", help="Memory per instance, e.g. 512M.")
@click.option("--process", default="web", show_default=True, help="The process type to scale.")
def scale(config: CliContext, app: str, instances: int | None, memory: str | None, process: str) -> None:
    """Change an app's instances or memory in the running `devloop up` (like `cf scale`)."""
    project = config.load()
    select_apps(project, (app,))
    if instances is None and memory is None:
        raise UsageError("say what to change: -i INSTANCES and/or -m MEMORY")
    try:
        memory_mb = parse_memory_mb(memory) if memory else None
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    ask(project, control.Scale(app, instances, memory_mb, process), control.Accepted)
    click.echo(f"scaling {app}" + (f" process {process}" if process != "web" else ""))
    click.echo(
        f"kept while this devloop up runs (config edits keep it too); to keep it after, set it in "
        f"{project.file.name}"
    )


@click.command()
@config_options
@click.argument("app")
def restart(config: CliContext, app: str) -> None:
    """Restart an app's instances one at a time (like `cf restart`)."""
    project = config.load(names_only=True)
    select_apps(project, (app,))
    ask(project, control.Restart(app), control.Accepted)
    click.echo(f"restarting {app}")


@click.command()
@config_options
@click.argument("app")
@click.option("-i", "--instance", "index", type=int, default=0, show_default=True)
@click.option("--process", default="web", show_default=True, help="The process type (cf `processes`).")
@click.option("-c", "--command", help="Run this command instead of an interactive shell.")
def ssh(config: CliContext, app: str, index: int, process: str, command: str | None) -> None:
    """A shell in one instance of an app (like `cf ssh`)."""
    project = config.load(names_only=True)
    (spec,) = select_apps(project, (app,))
    if process not in process_types(spec):
        raise UsageError(f"{app} has no process type {process!r}; it has: {', '.join(process_types(spec))}")
    shell(make_provider(project), spec, index, command, process)


def shell(provider: AnyProvider, app: AppSpec, index: int, command: str | None, process: str = "web") -> None:
    """A shell (or one command) in instance `index` of `process`, as `cf ssh APP -i N [-c CMD]`."""

    async def current() -> InstancesChanged:
        try:
            return await provider.instances(app)
        finally:
            await provider.close()

    change = asyncio.run(current())
    instance = next(
        (
            i
            for i in change.instances
            if i.process == process and not i.sidecar and i.index == index and i.state == "running"
        ),
        None,
    )
    if instance is None:
        which = str(index) if process == "web" else f"{process}/{index}"
        others = sorted(
            i.index
            for i in change.instances
            if i.process == process and not i.sidecar and i.state == "running"
        )
        if others:  # it runs, just not with that index
            kind = "instance" if process == "web" else f"{process} instance"
            raise UsageError(
                f"{app.name} has no {kind} {index}; running: {', '.join(map(str, others))}",
                hint=f"pick one with -i (e.g. `devloop ssh {app.name} -i {others[0]}`)",
            )
        raise ProviderError(f"{app.name} has no running instance {which}", hint="start it with `devloop up`")
    argv = provider.shell_argv(instance, command, tty=sys.stdin.isatty() and sys.stdout.isatty())
    sys.stdout.flush()
    os.execvp(argv[0], argv)  # the shell takes over this process, as cf ssh does


@click.command("open")
@config_options
@click.argument("app")
def open_app(config: CliContext, app: str) -> None:
    """Open an app's URL in the browser."""
    project = config.load(names_only=True)
    select_apps(project, (app,))
    rows = {row.name: row for row in ask(project, control.Status(), control.StatusReport).apps}
    url = rows[app].url
    if not url:
        raise UsageError(f"{app} has no URL yet", hint="wait until it runs in `devloop up`")
    click.echo(url)
    webbrowser.open(url)
