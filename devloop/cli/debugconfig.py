"""`devloop debug-config`: the IDE's attach settings for the debugged instances, as VS Code
`launch.json` entries (`--vscode`) or the host/port/path mappings JetBrains asks for.

Ports come from the running `devloop up --debug` (the ones it printed); with none running, the
stable ports it will take (core.debug.debug_port), said as such.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import click

from devloop.cli.context import CliContext, config_options, select_apps
from devloop.cli.remote import running_status
from devloop.core import debug
from devloop.core.debugconfig import Target, jetbrains_lines, merged_launch
from devloop.core.spec import AppSpec, ProjectSpec
from devloop.core.status import AppStatus
from devloop.errors import DevloopError, UsageError
from devloop.fs import write_private
from devloop.providers.shared import project_id

GENERATED_WORKDIR = "/app"  # where devloop's generated Dockerfiles put the app


def _workdir(app: AppSpec, row: AppStatus | None) -> str:
    """The container's working folder: /app for generated builds, else the image's WORKDIR."""
    if app.build is not None and app.build.dockerfile is None:
        return GENERATED_WORKDIR
    if row is not None and row.image:
        from devloop.build.debuglayer import image_config

        try:
            return asyncio.run(image_config(row.image)).workdir or "/"
        except DevloopError:
            pass
    return GENERATED_WORKDIR


def _runtime(app: AppSpec) -> str | None:
    try:
        return debug.runtime_of(app, debug.start_argv(app.command, (), ())).name
    except debug.DebugUnsupported:
        return None


def targets(project: ProjectSpec, apps: list[AppSpec]) -> tuple[list[Target], bool]:
    """Each debugged instance to attach to, and whether a running `devloop up` said where."""
    report = running_status(project)
    rows = {r.name: r for r in report.apps} if report is not None else {}
    root = project.file.parent
    found: list[Target] = []
    live = False
    for app in apps:
        row = rows.get(app.name)
        local = os.path.relpath(app.source, root) if app.source.is_absolute() else str(app.source)
        listed = row.instance_list if row else ()
        debugged = sorted((i for i in listed if i.debug_address and not i.sidecar), key=lambda i: i.index)
        if debugged:
            live = True
            runtime = next((r.name for r in debug.RUNTIMES.values() if r.tool == debugged[0].debug), "python")
            remote = _workdir(app, row)
            for instance in debugged:
                host, _, at = (instance.debug_address or "").rpartition(":")
                label = str(instance.index)
                if instance.process != "web":
                    label = f"{instance.process}/{label}"
                found.append(Target(app.name, label, runtime, host, int(at), local, remote))
            continue
        runtime_name = _runtime(app)
        if runtime_name is None:
            continue
        for index in range(app.instances):
            port = debug.debug_port(project_id(project.file), app.name, str(index), lambda _p: True)
            remote = _workdir(app, row)
            found.append(Target(app.name, str(index), runtime_name, "127.0.0.1", port, local, remote))
    return found, live


@click.command("debug-config")
@config_options
@click.argument("apps", nargs=-1)
@click.option("--vscode", is_flag=True, help="Write .vscode/launch.json attach entries (merged by name).")
@click.option("--force", is_flag=True, help="With --vscode: replace a launch.json devloop cannot merge into.")
def debug_config(config: CliContext, apps: tuple[str, ...], vscode: bool, force: bool) -> None:
    """The IDE's attach settings (host, port, paths) for the apps run with `up --debug`."""
    project = config.load(quiet=True)
    found, live = targets(project, select_apps(project, apps))
    if not found:
        raise UsageError("no app here can run under a debugger; `devloop up --debug` says what each needs")
    if not live:
        click.echo("no `devloop up --debug` runs here: these are the ports it takes when free", err=True)
    if not vscode:
        for line in jetbrains_lines(found):
            click.echo(line)
        return
    path = project.file.parent / ".vscode" / "launch.json"
    existing = path.read_text(encoding="utf-8") if path.exists() else None
    try:
        text = merged_launch(None if force else existing, found)
    except ValueError as exc:
        fix = "fix the file, or `devloop debug-config --vscode --force` replaces it"
        raise UsageError(f"{path}: cannot merge devloop's entries: {exc}", hint=fix) from None
    _write(path, text)
    click.echo(f"wrote {len(found)} attach configuration(s) to {path}")


def _write(path: Path, text: str) -> None:
    write_private(path, text)
    os.chmod(path, 0o644)  # the user's own project file, not devloop's secret
