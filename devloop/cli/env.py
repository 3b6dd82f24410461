"""cf's env commands: `devloop env` reads a running instance's environment; `set-env` and
`unset-env` edit the config file (comments kept) and have a running `devloop up` reload it."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import click

from devloop.cli.context import CliContext, config_options, make_provider, select_apps
from devloop.cli.remote import ask, running_status
from devloop.config import edit
from devloop.core.control import Reload, Reloaded
from devloop.core.envview import env_report, parse_env_list, parse_environ
from devloop.core.spec import AppSpec
from devloop.errors import ProviderError, ToolMissingError

if TYPE_CHECKING:
    from devloop.cli.context import AnyProvider


@click.command()
@config_options
@click.argument("app")
@click.option("--show-secrets", is_flag=True, help="Show secret values instead of masking them.")
def env(config: CliContext, app: str, show_secrets: bool) -> None:
    """An app's system- and user-provided environment, read from a running instance; secret values
    masked (like `cf env`)."""
    project = config.load()
    (spec,) = select_apps(project, (app,))
    for line in env_lines(make_provider(project), spec, show_secrets):
        click.echo(line)


def env_lines(provider: AnyProvider, app: AppSpec, show_secrets: bool) -> list[str]:
    """`cf env`: what the running instance has (system- and user-provided), else the config's."""

    async def read() -> tuple[dict[str, str] | None, str]:
        try:
            change = await provider.instances(app)
            running = [i for i in change.instances if i.state == "running" and not i.sidecar]
            instance = min(running, key=lambda i: (not i.is_web, i.process, i.index), default=None)
            if instance is None:
                return None, ""
            reader = getattr(provider, "instance_env", None)
            if reader is not None:
                return parse_env_list(await reader(instance)), f"instance {instance.label}"
            argv = provider.shell_argv(instance, "cat /proc/self/environ", tty=False)
            found = await asyncio.to_thread(subprocess.run, argv, capture_output=True, timeout=30)
            if found.returncode != 0:
                return None, ""
            return parse_environ(found.stdout), f"instance {instance.label}"
        except (ProviderError, ToolMissingError):  # no cluster yet: the config is all there is
            return None, ""
        finally:
            await provider.close()

    running, source = asyncio.run(read())
    return env_report(app.env, app.secret_env, running, show_secrets=show_secrets, source=source)


def _edit_env(config: CliContext, app: str, change: Callable[[Path], str]) -> None:
    project = config.load(quiet=True, detect=False)  # an edit needs a file: init writes one
    select_apps(project, (app,))
    message = change(Path(project.file))
    config.load(quiet=True)  # the edited file must still load
    click.echo(message)
    if running_status(project) is not None:
        changed = ask(project, Reload(), Reloaded).changed
        click.echo("the running devloop up picked it up" + (f" ({', '.join(changed)})" if changed else ""))


@click.command("set-env")
@config_options
@click.argument("app")
@click.argument("key")
@click.argument("value")
def set_env(config: CliContext, app: str, key: str, value: str) -> None:
    """Set an env var in the config file, keeping its comments (like `cf set-env`)."""

    def change(path: Path) -> str:
        edit.set_env(path, app, key, value)
        return f"set {key} for {app} in {path}"

    _edit_env(config, app, change)


@click.command("unset-env")
@config_options
@click.argument("app")
@click.argument("key")
def unset_env(config: CliContext, app: str, key: str) -> None:
    """Remove an env var from the config file (like `cf unset-env`)."""

    def change(path: Path) -> str:
        found = edit.unset_env(path, app, key)
        return f"removed {key} from {app}" if found else f"{app} had no {key}; nothing changed"

    _edit_env(config, app, change)
