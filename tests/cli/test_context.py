"""The composition root: one router, built in devloop.cli.context, driven by the provider the
project asks for and read by the engine; the config options reach a command as one object."""

from __future__ import annotations

from pathlib import Path
from typing import cast

import click
import pytest
from click.testing import CliRunner

from devloop.build.builder import ImageBuilder
from devloop.cli.context import CliContext, config_options, make_provider, make_router, select_apps
from devloop.core.spec import ProjectSpec, ProviderKind
from devloop.engine.loop import Engine
from devloop.errors import UsageError
from devloop.providers.docker.provider import DockerProvider
from devloop.providers.kind.provider import KindProvider
from tests.ui.fake_engine import spec


@pytest.mark.parametrize(
    ("provider", "kind"), [(ProviderKind.DOCKER, DockerProvider), (ProviderKind.KIND, KindProvider)]
)
def test_the_provider_and_the_engine_share_the_router_the_root_built(
    tmp_path: Path, provider: ProviderKind, kind: type
) -> None:
    project = ProjectSpec(tmp_path / "devloop.yaml", (spec("web"),), provider=provider, router_port=18555)
    router = make_router(project)
    assert router.preferred_port == 18555
    chosen = make_provider(project, router)
    assert isinstance(chosen, kind) and chosen.router is router
    engine = Engine(project, chosen, cast(ImageBuilder, None), watch=False, router=router)
    assert engine.router is router
    assert router.on_notice is not None  # the engine takes the router's notices into the log stream
    router.on_notice("web", "instance 0 out of rotation")
    assert [line.text for line in engine.logs.lines("web")] == ["instance 0 out of rotation"]
    assert make_provider(project).router is not router  # each command composes its own


def test_the_config_options_reach_the_command_as_the_click_contexts_object(tmp_path: Path) -> None:
    seen: list[CliContext] = []

    @click.command()
    @config_options
    def probe(config: CliContext) -> None:
        assert click.get_current_context().obj is config
        seen.append(config)

    result = CliRunner().invoke(probe, ["-f", "x.yml", "--var", "a=1", "--provider", "docker"])
    assert result.exit_code == 0, result.output
    assert seen == [CliContext(Path("x.yml"), (), ("a=1",), "docker", None)]


def test_select_apps_by_name_or_display_name_and_an_unknown_one_named() -> None:
    web, worker = spec("web"), spec("worker")
    project = ProjectSpec(Path("/src/devloop.yaml"), (web, worker))
    assert select_apps(project, ()) == [web, worker]
    assert select_apps(project, ("worker",)) == [worker]
    with pytest.raises(UsageError, match="no app named api; apps here: web, worker"):
        select_apps(project, ("api",))
