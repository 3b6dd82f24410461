"""cf-style commands beside `devloop up`: status, scale, restart, env, ssh, open, push.

Those that need live state ask the running `devloop up` over its control
socket; the rest read the config or ask the provider directly.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from typing import Any

import click

from devloop.core import events as ev
from devloop.core.processes import process_summary
from devloop.core.spec import AppSpec, ProjectSpec
from devloop.core.wording import without_serving_claim
from devloop.engine.control import send
from devloop.errors import BuildError, DeployError, ProviderError, UsageError
from devloop.providers.docker.provider import project_id


def ask(project: ProjectSpec, request: dict[str, Any]) -> dict[str, Any]:
    answer = send(project_id(project.file), request)
    if "error" in answer:
        raise UsageError(str(answer["error"]))
    return answer


def running_up(project: ProjectSpec) -> bool:
    try:
        ask(project, {"cmd": "status"})
    except UsageError:
        return False
    return True


def status_rows(project: ProjectSpec, provider: Any) -> list[dict[str, Any]]:
    """From the running `devloop up` if there is one, else what the provider has running."""
    if running_up(project):
        return list(ask(project, {"cmd": "status"})["apps"])

    async def snapshot() -> list[dict[str, Any]]:
        rows = []
        try:
            for app in project.apps:
                change = await provider.instances(app)
                running = [i for i in change.instances if i.is_web and i.state == "running"]
                rows.append({
                    "name": app.name,
                    "state": "running" if running else "stopped",
                    "instances": {"running": len(running), "desired": app.instances},
                    "processes": process_summary(app, change.instances),
                    "memory_mb": app.memory_mb,
                    "url": None,
                    "instance_list": [{"index": i.index, "state": i.state, "address": i.address,
                                       "restarts": i.restarts, "process": i.process, "sidecar": i.sidecar}
                                      for i in change.instances],
                })  # fmt: skip
        finally:
            await provider.close()
        return rows

    return asyncio.run(snapshot())


def print_status(rows: list[dict[str, Any]], as_json: bool, unrouted: frozenset[str] = frozenset()) -> None:
    from devloop.core.status import table, with_shown_state

    if as_json:
        click.echo(json.dumps({"apps": [with_shown_state(r) for r in rows]}, indent=2))
        return
    for line in table(rows, time.time(), unrouted):
        click.echo(line)


def shell(provider: Any, app: AppSpec, index: int, command: str | None, process: str = "web") -> None:
    """A shell (or one command) in instance `index` of `process`, as `cf ssh APP -i N [-c CMD]`."""

    async def current() -> Any:
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


def env_lines(provider: Any, app: AppSpec, show_secrets: bool) -> list[str]:
    """`cf env`: what the running instance has (system- and user-provided), else the config's."""
    from devloop.core.envview import env_report, parse_env_list, parse_environ
    from devloop.errors import ToolMissingError

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


def push(project: ProjectSpec, provider: Any) -> int:
    """Build and deploy every app once, wait for health, print where each serves, exit."""
    from devloop.adapters import dockerapi, dockercli
    from devloop.build.builder import ImageBuilder
    from devloop.cli.printer import PlainPrinter
    from devloop.core.state import Phase
    from devloop.engine.loop import Engine

    engine = Engine(project, provider, ImageBuilder(dockercli.detect(), dockerapi.connect()), watch=False)
    printer = PlainPrinter(show_urls=False)
    engine.logs.subscribe(printer.line)
    settled = (Phase.RUNNING, Phase.FAILED, Phase.CRASHED)

    def on_event(state: Any, event: Any) -> None:
        printer.event(state, event)
        if state.platform_error or all(
            a.phase in settled and not (a.building or a.deploying or a.build_wanted)
            for a in state.apps.values()
        ):
            engine.stop()

    engine.subscribe(on_event)
    build_failed: dict[str, str] = {}  # app -> why, for the exit code `devloop build` gives too
    deploy_failed: dict[str, str] = {}
    platform_code: list[int] = []  # the platform's own error code (5: a tool is missing)

    def on_failure(_state: Any, event: Any) -> None:
        if isinstance(event, ev.BuildFailed):
            build_failed[event.app] = event.message
        elif isinstance(event, ev.DeployFailed):
            deploy_failed[event.app] = without_serving_claim(event.message)
        elif isinstance(event, ev.BuildSucceeded):
            build_failed.pop(event.app, None)
        elif isinstance(event, ev.DeploySucceeded):
            deploy_failed.pop(event.app, None)
        elif isinstance(event, ev.PlatformFailed):
            platform_code.append(event.exit_code)

    engine.subscribe(on_failure)

    async def run() -> None:
        try:
            await engine.run()
        finally:
            await provider.close()

    started = time.monotonic()
    asyncio.run(run())
    failed = [n for n, a in engine.state.apps.items() if a.phase is not Phase.RUNNING]
    namespace = getattr(provider, "namespace", None)  # kind: pod addresses are inside the cluster
    for name in engine.state.order:
        app = engine.state.apps[name]
        if name in failed:
            continue  # no address line for an app whose push failed: scripts read these
        running = [i for i in app.instances if i.is_web and i.state == "running"]
        addresses = [f"http://{i.address}" for i in running if i.address]
        if namespace and running:
            click.echo(f"{name}: {len(running)} instance(s) running in namespace {namespace}")
        elif addresses and not app.spec.no_route:
            click.echo(f"{name}: {' '.join(addresses)}")
    took = f"{time.monotonic() - started:.1f}s"
    if engine.state.platform_error:
        return platform_code[0] if platform_code else ProviderError.exit_code  # the printer said why
    if build_failed:
        raise BuildError(f"push failed after {took}: the build of {', '.join(build_failed)} failed")
    if deploy_failed or failed:
        names = ", ".join(deploy_failed or failed)
        raise DeployError(f"push failed after {took}: {names} did not become healthy")
    click.echo(f"pushed in {took}; `devloop up` gives each app one stable URL")
    return 0
