"""Plain-mode output (no TUI): one prefixed line per event, for terminals, CI and pipes.

Lines look like Cloud Foundry's `cf logs`: `[STG]` build output, `[API]`
devloop's own events, `[APP/0]` instance 0's output, `[RTR]` the router's
access lines. Instance crashes and restarts come through the log stream (devloop.engine.logmux).
Each app's URL is printed alone on a line
(`web: http://web.localhost:8080`) as soon as it is healthy, so scripts can find it.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

import click

from devloop.core import events as ev
from devloop.core.buildlog import BuildOutput
from devloop.core.logbuffer import LogLine
from devloop.core.logformat import format_line
from devloop.core.wording import KEEPS_SERVING, after_failure, without_serving_claim

if TYPE_CHECKING:  # the state is only read: `devloop build` needs no engine
    from devloop.core.state import EngineState


def use_colour() -> bool:
    return sys.stdout.isatty() and "NO_COLOR" not in os.environ


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


class PlainPrinter:
    def __init__(self, colour: bool | None = None, show_urls: bool = True) -> None:
        self.colour = use_colour() if colour is None else colour
        self.show_urls = show_urls
        self._urls: dict[str, str] = {}

    def _style(self, text: str, **kwargs: object) -> str:
        return click.style(text, **kwargs) if self.colour else text  # type: ignore[arg-type]

    def line(self, line: LogLine) -> None:
        click.echo(format_line(line, colour=self.colour), color=self.colour)

    def line_unless_router(self, line: LogLine) -> None:
        if line.source != "RTR":
            self.line(line)

    def event(self, state: EngineState, event: ev.Event) -> None:
        match event:
            case ev.PlatformReady(description=description):
                self._api("devloop", f"platform ready: {description}")
            case ev.PlatformFailed(message=message):
                click.echo(f"error: {message}", err=True)
            case ev.BuildFailed(app=app, message=message):
                self._api(app, self._style(f"build failed: {message}", fg="red"))
                if state.apps[app].deployed_image:
                    self._api(app, KEEPS_SERVING)
            case ev.DeployFailed(app=app, message=message, lines=lines):
                self._api(app, self._style(f"deploy failed: {without_serving_claim(message)}", fg="red"))
                for text in lines[-10:]:
                    self._api(app, f"  {text}")
                self._api(app, after_failure(state.apps[app].deployed_image is not None))
            case ev.DeploySucceeded(app=app, image=image, url=url, address=address):
                spec = state.apps[app].spec
                self._api(app, f"running {image} ({spec.instances} instance(s))")
                if url and self.show_urls and self._urls.get(app) != url:
                    self._urls[app] = url
                    click.echo(f"{app}: {url}")
                    if address and address != url:  # for clients whose resolver has no *.localhost
                        click.echo(f"{app}: {address}")
            case ev.SyncStarted(app=app, copies=copies):
                names = ", ".join(c.rel for c in copies[:5]) + (" ..." if len(copies) > 5 else "")
                self._api(app, f"syncing {len(copies)} file(s): {names}")
            case ev.SyncDone(app=app, instances=count):
                self._api(app, f"synced into {count} instance(s)")
            case ev.SyncFailed(app=app, message=message):
                self._api(app, self._style(f"sync failed, rebuilding instead: {message}", fg="yellow"))
            case ev.FilesChanged(app=app) if state.manual and state.apps[app].pending_files:
                pending = sorted(state.apps[app].pending_files)
                self._api(app, f"{len(pending)} change(s) queued (manual mode): run `devloop trigger {app}`")

    def _api(self, app: str, text: str) -> None:
        click.echo(f"{self._style('[API]', bold=True)} {app} | {text}", color=self.colour)
