"""The cf service commands, locally: `devloop services`, `service-key`, `service-shell`, `psql`
and `redis-cli`."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Coroutine
from typing import TYPE_CHECKING, TypeVar

import click

from devloop.cli.context import CliContext, config_options, make_provider
from devloop.core.services import ServiceSpec, credentials_for, masked
from devloop.core.spec import ProjectSpec
from devloop.errors import ProviderError, UsageError

if TYPE_CHECKING:
    from devloop.cli.context import AnyProvider

T = TypeVar("T")


@click.command("services")
@config_options
def services_command(config: CliContext) -> None:
    """The backing services: type, plan, state and bound apps (like `cf services`)."""
    project = config.load()
    list_services(project, make_provider(project))


@click.command("service-key")
@config_options
@click.argument("name")
@click.option("--show-secrets", is_flag=True, help="Show the password instead of *****.")
def service_key_command(config: CliContext, name: str, show_secrets: bool) -> None:
    """The credentials bound apps get for service NAME, as JSON (like `cf service-key`)."""
    project = config.load()
    service_key(project, make_provider(project), name, show_secrets)


def _shell_command(command: str, expect: str | None, summary: str) -> click.Command:
    """A command running the client of a service (of type `expect`, or any) inside its container."""

    @click.command(command, help=summary, context_settings={"ignore_unknown_options": True})
    @config_options
    @click.argument("name")
    @click.argument("args", nargs=-1, type=click.UNPROCESSED)
    def run(config: CliContext, name: str, args: tuple[str, ...]) -> None:
        project = config.load()
        service_shell(project, make_provider(project), name, expect, args)

    return run


service_shell_command = _shell_command(
    "service-shell", None, "The client of service NAME inside its container (ARGS go to it)."
)
psql = _shell_command("psql", "postgres", "psql on postgres service NAME (ARGS go to psql).")
redis_cli = _shell_command("redis-cli", "redis", "redis-cli on redis service NAME (ARGS go to redis-cli).")


async def _closing(provider: AnyProvider, work: Coroutine[object, object, T]) -> T:
    """One provider call from a command, then the provider's connections closed."""
    try:
        return await work
    finally:
        await provider.close()


def find_service(project: ProjectSpec, name: str) -> ServiceSpec:
    try:
        return project.service(name)
    except KeyError:
        known = ", ".join(s.name for s in project.services) or "none"
        raise UsageError(f"no service {name!r} in {project.file.name}; services here: {known}") from None


def list_services(project: ProjectSpec, provider: AnyProvider) -> None:
    """Like `cf services`: name, type, plan, state, bound apps."""
    states = asyncio.run(_closing(provider, provider.service_states())) if project.services else {}
    rows = [("name", "type", "plan", "state", "bound apps")]
    for service in project.services:
        bound = ", ".join(a.name for a in project.apps if service.name in a.services) or "-"
        rows.append(
            (service.name, service.type.name, service.plan, states.get(service.name, "not started"), bound)
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        click.echo("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())


def service_key(project: ProjectSpec, provider: AnyProvider, name: str, show_secrets: bool) -> None:
    """Like `cf service-key`: the credentials a bound app gets, as JSON; the password masked."""
    service = find_service(project, name)

    async def read() -> str | None:
        await provider.service_states()  # the engine (or cluster) must answer: an error says why
        return await provider.service_password(service)

    password = asyncio.run(_closing(provider, read()))
    if password is None:
        raise ProviderError(f"service {name} has not been started yet", hint="`devloop up` starts it")
    credentials = credentials_for(service, password).as_dict(service.type.scheme)
    shown = credentials if show_secrets else masked(credentials)
    if service.host_port:
        local = credentials_for(service, password, "127.0.0.1")
        local_view = {**local.as_dict(service.type.scheme), "port": service.host_port}
        local_view["uri"] = str(local_view["uri"]).replace(
            f":{service.type.port}", f":{service.host_port}", 1
        )
        shown = {**shown, "from_this_machine": local_view if show_secrets else masked(local_view)}
    click.echo(json.dumps(shown, indent=2))


def service_shell(
    project: ProjectSpec, provider: AnyProvider, name: str, expect: str | None, args: tuple[str, ...]
) -> None:
    """The service's own client inside its container (psql, redis-cli, ...), as `devloop ssh` does."""
    service = find_service(project, name)
    if expect is not None and service.type.name != expect:
        raise UsageError(f"{name} is a {service.type.name} service, not {expect}")
    if asyncio.run(_closing(provider, provider.service_states())).get(service.name) != "running":
        raise ProviderError(f"service {name} is not running", hint="`devloop up` starts it")
    argv = provider.service_shell_argv(service, args, sys.stdin.isatty() and sys.stdout.isatty())
    sys.stdout.flush()
    os.execvp(argv[0], argv)
