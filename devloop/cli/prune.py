"""`devloop prune`: the disk budget on demand: the newest N content tags per app stay in each store
devloop reaches (engine, local registry, kind nodes), never one that runs; it says what it freed."""

from __future__ import annotations

import asyncio

import click

from devloop.cli.context import CliContext, config_options
from devloop.core.pull import human_bytes


@click.command("prune")
@config_options
@click.option("--dry-run", is_flag=True, help="Say what would go and how much it frees; remove nothing.")
@click.option("--keep", type=click.IntRange(min=1), default=None,
              help="Content tags to keep per app (default: `keep_images` of devloop.yaml, 3).")  # fmt: skip
def prune_command(config: CliContext, dry_run: bool, keep: int | None) -> None:
    """Remove old images of the apps beyond the newest N per app (engine, registry, kind nodes);
    --dry-run says what would go."""
    project = config.load(names_only=True)
    count = keep or project.keep_images
    apps = [app.name for app in project.apps]

    from devloop.images.prune import prune  # the adapters when it runs, not for its --help
    from devloop.images.reach import reachable_stores

    async def run() -> None:
        stores = await reachable_stores(project)
        reports = await prune(stores, count, apps, dry_run=dry_run)
        for report in reports:
            click.echo(report.line(dry_run))
        total = sum(r.freed(dry_run) for r in reports)
        verb = "would free about" if dry_run else "freed"
        click.echo(f"{verb} {human_bytes(total)} in all; keeping the newest {count} image(s) of each app")

    asyncio.run(run())
