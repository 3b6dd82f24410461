"""A click group whose commands live in their own modules, imported only when one runs, so
`devloop --help` and the quick commands never load Textual, the Docker SDK or kr8s."""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass

import click
from click.utils import make_default_short_help


@dataclass(frozen=True)
class LazyCommand:
    """Where a command is (`module`, `attribute`) and the summary `devloop --help` lists for it."""

    module: str
    attribute: str
    summary: str


class LazyGroup(click.Group):
    """Lists its commands from a table; imports a command's module when it is invoked (or its help shown)."""

    def __init__(self, *args: object, lazy_commands: Mapping[str, LazyCommand], **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.lazy_commands = dict(lazy_commands)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy_commands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        where = self.lazy_commands.get(cmd_name)
        if where is None:
            return super().get_command(ctx, cmd_name)
        command = getattr(importlib.import_module(where.module), where.attribute)
        if not isinstance(command, click.Command):
            raise TypeError(f"{where.module}.{where.attribute} is no click command")
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The command list from the table's summaries, as click lays it out, importing nothing."""
        names = self.list_commands(ctx)
        if not names:
            return
        limit = formatter.width - 6 - max(len(name) for name in names)
        rows = [(name, self._summary(ctx, name, limit)) for name in names]
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def _summary(self, ctx: click.Context, name: str, limit: int) -> str:
        where = self.lazy_commands.get(name)
        if where is not None:
            return make_default_short_help(where.summary, limit)
        command = super().get_command(ctx, name)
        return command.get_short_help_str(limit) if command is not None else ""
