"""`devloop logs`: recent lines, then every instance followed, as `cf logs` and stern do."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import sys
import time
from collections.abc import Callable, Sequence

import click

from devloop.cli.context import CliContext, config_options_long_file, make_provider, select_apps
from devloop.core.events import InstancesChanged, InstanceStatus
from devloop.core.logbuffer import LogBuffer, LogLine
from devloop.core.logformat import LogFilter, format_line, parse_duration
from devloop.core.spec import ProjectSpec
from devloop.engine.history import LogHistory, mask_order, masked, merge_recent, with_text
from devloop.engine.logmux import LogMux
from devloop.engine.recorder import logs_dir, secret_values
from devloop.errors import UsageError
from devloop.fs import state_home
from devloop.providers.base import Provider
from devloop.providers.shared import project_id


@click.command("logs")
@config_options_long_file  # `-f` is follow here, as in `tail -f` and `kubectl logs -f`
@click.argument("apps", nargs=-1)
@click.option("--recent", is_flag=True, help="Print recent lines and exit (like `cf logs --recent`).")
@click.option("-f", "--follow", is_flag=True,
              help="Follow after the recent lines even with --recent (the default without it).")  # fmt: skip
@click.option("--since", "since", metavar="DURATION", help="Only lines newer than this, e.g. 30s, 5m, 2h.")
@click.option("--tail", "last", type=click.IntRange(0), help="Start with the last N lines of each instance.")
@click.option("--include", multiple=True, metavar="REGEX", help="Only lines matching (repeatable).")
@click.option("--exclude", multiple=True, metavar="REGEX", help="Leave out lines matching (repeatable).")
@click.option("--container", help="Only this container (id or name prefix).")
@click.option("--timestamps", is_flag=True, help="Show each line's timestamp.")
@click.option("-o", "--output", "mode", type=click.Choice(["default", "raw", "json"]), default="default")
@click.option("--no-color", is_flag=True, help="No colours (also when NO_COLOR is set).")
def logs_command(
    config: CliContext,
    apps: tuple[str, ...],
    recent: bool,
    follow: bool,
    since: str | None,
    last: int | None,
    include: tuple[str, ...],
    exclude: tuple[str, ...],
    container: str | None,
    timestamps: bool,
    mode: str,
    no_color: bool,
) -> None:
    """Follow every instance's output, stern-style (like `cf logs`)."""
    project = config.load(names_only=True)
    select_apps(project, apps)
    try:
        since_s = parse_duration(since) if since else None
        flt = LogFilter(
            apps=frozenset(apps),
            include=tuple(re.compile(p) for p in include),
            exclude=tuple(re.compile(p) for p in exclude),
            container=container,
        )
    except (ValueError, re.error) as exc:
        raise UsageError(str(exc)) from None
    colour = not no_color and "NO_COLOR" not in os.environ and sys.stdout.isatty()
    provider = make_provider(project)
    history = LogHistory(logs_dir(state_home(), project_id(project.file)))
    secrets = [value for app in project.apps for value in secret_values(app)]

    async def run() -> int:
        try:
            return await show_logs(
                project, provider, flt, recent=recent and not follow, since_s=since_s, last=last, mode=mode,
                timestamps=timestamps, colour=colour, out=lambda text: click.echo(text, color=colour),
                history=history, secrets=secrets,
            )  # fmt: skip
        finally:
            await provider.close()

    sys.exit(asyncio.run(run()))


async def show_logs(
    project: ProjectSpec,
    provider: Provider,
    flt: LogFilter,
    *,
    recent: bool,
    since_s: float | None,
    last: int | None,
    mode: str,
    timestamps: bool,
    colour: bool,
    out: Callable[[str], None],
    history: LogHistory | None = None,
    secrets: Sequence[str] = (),
) -> int:
    """The recent lines (the on-disk history merged with what the platform still holds, no line
    twice), then, unless `recent`, every instance followed from the newest line printed."""
    apps = [a for a in project.apps if not flt.apps or a.name in flt.apps]
    names_wanted = {a.name for a in apps}
    ordered_secrets = mask_order(secrets)
    started_ns = time.time_ns()
    since_ns = started_ns - int(since_s * 1e9) if since_s else None

    names: dict[str, str] = {}  # instance id -> its platform name, for `--container NAME`

    def emit(line: LogLine) -> None:
        line = with_text(line, masked(line.text, ordered_secrets))
        if flt.matches(line, names.get(line.container, "")):
            out(format_line(line, mode, timestamps, colour))

    def learn(change: InstancesChanged) -> None:
        names.update({i.id: i.name for i in change.instances if i.name})

    changes = provider.watch_instances(apps)
    first: list[InstancesChanged] = [await anext(changes) for _ in apps]
    for change in first:
        learn(change)
    backlog: list[LogLine] = []
    newest: dict[str, int] = {}

    async def recent_of(instance: InstanceStatus) -> None:
        async for line in provider.tail(instance, since_ns, follow=False, last=last):
            backlog.append(line)

    # Every instance's recent lines at once, then one write: a terminal takes one big write far
    # faster than a write per line. `--tail 0`: none of them, only what comes from now on.
    if last != 0:
        await asyncio.gather(*(recent_of(i) for change in first for i in change.instances))
    stored = [] if history is None or last == 0 else [
        line for line in history.lines(since_ns) if line.app in names_wanted
    ]  # fmt: skip
    merged = merge_recent(stored, backlog, secrets)
    if last is not None:
        merged = last_of_each(merged, last)
    for line in merged:
        if line.container:
            newest[line.container] = max(newest.get(line.container, 0), line.timestamp_ns)
    texts = [
        format_line(line, mode, timestamps, colour)
        for line in merged
        if flt.matches(line, names.get(line.container, ""))
    ]
    if texts:
        out("\n".join(texts))
    if recent:
        close = getattr(changes, "aclose", None)
        if close is not None:
            await close()
        return 0

    buffer = LogBuffer()
    buffer.subscribe(emit)
    mux = LogMux(provider, buffer)
    for change in first:
        for instance in change.instances:
            mux.last_ns[instance.id] = newest.get(instance.id) or started_ns
        mux.on_instances(change)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)

    async def watch() -> None:
        async for change in changes:
            learn(change)
            mux.on_instances(change)

    watcher = asyncio.create_task(watch())
    try:
        await stop.wait()
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await watcher
        await mux.close()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
    return 130


def last_of_each(lines: list[LogLine], count: int) -> list[LogLine]:
    """The last `count` lines of each instance (devloop's own lines count as one source per app)."""
    kept: dict[tuple[str, str], int] = {}
    chosen: list[LogLine] = []
    for line in reversed(lines):
        source = (line.app, line.container or line.source)
        if kept.get(source, 0) < count:
            kept[source] = kept.get(source, 0) + 1
            chosen.append(line)
    return chosen[::-1]
