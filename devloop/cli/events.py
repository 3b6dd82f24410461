"""`devloop events`: what happened to the apps, newest last, as `cf events` shows it.

It reads the timeline a `devloop up` keeps on disk, so it answers after pods are gone and
while no `devloop up` runs.
"""

from __future__ import annotations

import json

import click

from devloop.cli.context import CliContext, config_options, select_apps
from devloop.core.timeline import event_line
from devloop.engine.recorder import event_journal
from devloop.fs import state_home
from devloop.providers.shared import project_id


@click.command("events")
@config_options
@click.argument("apps", nargs=-1)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per event, cf's event types.")
@click.option("-n", "--last", "last", type=click.IntRange(1), default=50, show_default=True,
              help="How many of the newest events.")  # fmt: skip
def events(config: CliContext, apps: tuple[str, ...], as_json: bool, last: int) -> None:
    """What happened to the apps: pushed, crashed, scaled, restarted (like `cf events`)."""
    project = config.load(names_only=True)
    wanted = {app.name for app in select_apps(project, apps)}
    entries = [e for e in event_journal(state_home(), project_id(project.file)).records() if e.app in wanted]
    entries = entries[-last:]
    if as_json:
        click.echo(json.dumps([entry.to_json() for entry in entries], indent=2))
    elif entries:
        click.echo("\n".join(event_line(entry) for entry in entries))
    else:
        click.echo("no events yet: `devloop up` records them as they happen")
