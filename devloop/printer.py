"""Plain-mode output (no TUI): one prefixed line per event, for terminals, CI and pipes."""

from __future__ import annotations

import click

from devloop.core.buildlog import BuildOutput


def print_build_output(out: BuildOutput) -> None:
    """`[STG] app | line`, as Cloud Foundry tags staging output; warnings go to stderr."""
    if out.kind == "detail":
        return
    if out.kind == "warning":
        click.echo(f"warning: {out.app}: {out.text}", err=True)
    elif out.kind in ("step", "result"):
        click.echo(f"[STG] {out.app} | {click.style(out.text, bold=True)}")
    else:
        click.echo(f"[STG] {out.app} | {out.text}")
