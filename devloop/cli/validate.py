"""`devloop validate`: load and check the config, and say how each app will be built and run."""

from __future__ import annotations

import click

from devloop.cli.context import CliContext, config_options
from devloop.core.spec import AppSpec


@click.command()
@config_options
def validate(config: CliContext) -> None:
    """Load and check the config; print the apps it defines."""
    project = config.load()
    click.echo(f"{project.file}: {len(project.apps)} app(s), provider {project.provider.value}")
    for app in project.apps:
        memory = f"{app.memory_mb}M" if app.memory_mb else "default memory"
        name = f"{app.display_name} ({app.name})" if app.display_name else app.name
        click.echo(f"  {name}: {app.instances} instance(s), {memory}, port {app.port}, {how_built(app)}")
        for process in app.processes:
            command = process.command or "the image's default"
            click.echo(f"    process {process.type}: {process.instances} instance(s), `{command}`")
        for sidecar in app.sidecars:
            click.echo(
                f"    sidecar {sidecar.name} beside {', '.join(sidecar.process_types)}: `{sidecar.command}`"
            )


def how_built(app: AppSpec) -> str:
    if app.image:
        return f"image {app.image}"
    if app.build and app.build.missing:
        return "not buildable yet (see the warning above)"
    if app.build and app.build.dockerfile:
        return f"Dockerfile {app.build.dockerfile.name}"
    if app.build and app.build.language:
        return f"generated {app.build.language.value} Dockerfile"
    return "not buildable yet (see the warning above)"
