"""The one-shot steps of the loop: `build` images, `push` once and exit, `trigger` queued changes
in a running `devloop up`, and `down` to remove what devloop runs."""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from typing import TYPE_CHECKING

import click

from devloop.build.builder import print_dockerfile as dockerfile_of
from devloop.cli.context import (
    CliContext,
    compose,
    config_options,
    make_builder,
    make_provider,
    registry_option,
    select_apps,
)
from devloop.cli.printer import PlainPrinter, print_build_output
from devloop.core import events as ev
from devloop.core.removal import Removed, describe_removal
from devloop.core.spec import ProjectSpec, ProviderKind
from devloop.core.wording import without_serving_claim
from devloop.errors import BuildError, DeployError, ProviderError, UsageError

if TYPE_CHECKING:
    from devloop.core.state import EngineState

PRUNE_WAIT_S = 15.0  # how long `push` waits for the disk budget's prune before it exits

@click.command()
@config_options
@registry_option
@click.argument("apps", nargs=-1)
@click.option(
    "--print-dockerfile", is_flag=True, help="Print the Dockerfile each app builds with; build nothing."
)
@click.option("--force", is_flag=True, help="Build even when an image of the same inputs exists.")
def build(config: CliContext, apps: tuple[str, ...], print_dockerfile: bool, force: bool) -> None:
    """Build the apps' images (all, or APPS), tagged by a hash of their inputs."""
    project = config.load()
    selected = select_apps(project, apps)
    if print_dockerfile:
        for app in selected:
            if len(selected) > 1:
                click.echo(f"# --- {app.name}")
            click.echo(dockerfile_of(app), nl=False)
        return
    no_buildkit = "this docker client has no BuildKit; using the legacy builder"
    builder = make_builder(no_buildkit_warning=no_buildkit, client_when_building=True)

    async def run_all() -> None:
        for app in selected:
            if app.build is None:
                click.echo(f"{app.name}: prebuilt image {app.image}, nothing to build")
                continue
            built = await builder.build(app, print_build_output, force=force)
            if project.registry:  # as `skaffold build --default-repo`: built, then pushed
                click.echo(f"{app.name}: {await push_built(built.image, project.registry)}")

    asyncio.run(run_all())


async def push_built(image: str, registry: str) -> str:
    """`image` pushed to `registry` with the user's Docker credentials; its digest reference."""
    from devloop.adapters import dockersdk
    from devloop.adapters.registry import push as push_image

    engine = await asyncio.to_thread(dockersdk.open_engine)
    try:
        return await push_image(engine, image, registry, lambda line: click.echo(line, err=True))
    finally:
        engine.close()


@click.command()
@config_options
@click.argument("apps", nargs=-1)
@click.option("--cluster", "delete_cluster", is_flag=True, help="Delete the kind cluster too.")
@click.option("--purge", is_flag=True, help="Delete the services' data and passwords too.")
def down(config: CliContext, apps: tuple[str, ...], delete_cluster: bool, purge: bool) -> None:
    """Remove the apps' instances (all apps, or APPS) and the services; --purge their data too."""
    project = config.load(names_only=True)
    selected = select_apps(project, apps) if apps else None
    target = make_provider(project)
    if purge and apps:
        raise UsageError("--purge deletes every service's data: run it without app names")
    if delete_cluster and (project.provider is not ProviderKind.KIND or project.context):
        raise UsageError("--cluster deletes the kind cluster devloop made; this project uses none")

    async def remove() -> int | Removed:
        try:
            if delete_cluster:
                from devloop.providers.kind.provider import KindProvider

                assert isinstance(target, KindProvider)  # the provider is kind: checked above
                await target.delete_cluster()
                return 0
            return await target.remove(selected, purge=purge)
        finally:
            await target.close()

    removed = asyncio.run(remove())
    if delete_cluster:
        click.echo(f"deleted kind cluster {project.cluster}")
    else:
        click.echo(describe_removal(removed))


@click.command()
@config_options
@click.argument("apps", nargs=-1)
def trigger(config: CliContext, apps: tuple[str, ...]) -> None:
    """Build and deploy queued changes now (all apps, or APPS), as in manual mode."""
    from devloop.cli.remote import ask  # the control socket's client: only here of these commands
    from devloop.core.control import Trigger, Triggered

    project = config.load()
    names = tuple(a.name for a in select_apps(project, apps))
    ask(project, Trigger(names), Triggered)
    click.echo(f"triggered {', '.join(names)}")


@click.command()
@config_options
@registry_option
def push(config: CliContext) -> None:
    """Build and deploy once, wait for health, print where the apps serve, exit (like `cf push`)."""
    project = config.load()
    sys.exit(push_once(project))


def push_once(project: ProjectSpec) -> int:
    """Build and deploy every app once, wait for health, print where each serves, exit."""
    from devloop.core.state import Phase
    from devloop.engine.loop import Engine  # the loop and the pruner: not for `build` or `down`
    from devloop.images.auto import AutoPrune
    from devloop.images.auto import enabled as auto_prune_enabled

    stack = compose(project)
    provider = stack.provider
    engine = Engine(project, provider, stack.builder, watch=False, router=stack.router)
    printer = PlainPrinter(show_urls=False)
    engine.logs.subscribe(printer.line)
    settled = (Phase.RUNNING, Phase.FAILED, Phase.CRASHED)

    def on_event(state: EngineState, event: ev.Event) -> None:
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

    def on_failure(_state: EngineState, event: ev.Event) -> None:
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
    pruner = AutoPrune(project, engine.api) if auto_prune_enabled() else None
    if pruner is not None:
        engine.subscribe(pruner.listener)

    async def run() -> None:
        try:
            await engine.run()
            if pruner is not None:  # the disk budget, once the apps are up (a few seconds at most)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(pruner.wait(), PRUNE_WAIT_S)
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
