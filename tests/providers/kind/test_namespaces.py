"""Which namespace and registry a project gets: `registry:`/`namespace:` in devloop.yaml and
`--registry` on the command line reach the kind provider; a shared context gets one namespace per
developer and project, a local one keeps the project's own (as before)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from devloop.cli.context import CliContext, config_options, registry_option
from devloop.config.loader import load_project
from devloop.core.spec import AppSpec, ProjectSpec
from devloop.errors import ConfigError, UsageError
from devloop.providers.kind.cluster import developer, namespace_for
from devloop.providers.shared import project_id


def project_in(folder: Path, **fields: object) -> ProjectSpec:
    folder.mkdir(parents=True, exist_ok=True)
    return ProjectSpec(folder / "devloop.yaml", (AppSpec(name="web", source=folder),), **fields)  # type: ignore[arg-type]


@pytest.mark.parametrize("context", [None, "kind-devloop", "k3d-dev", "minikube", "docker-desktop"])
def test_a_local_cluster_keeps_the_project_namespace(
    tmp_path: Path, context: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("USER", "alice")
    project = project_in(tmp_path / "shop", context=context)
    assert namespace_for(project) == f"devloop-{project_id(project.file)}"


def test_a_shared_context_gets_one_namespace_per_developer_and_project(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    names = {}
    for user in ("alice", "bob"):
        monkeypatch.setenv("USER", user)
        names[user] = namespace_for(project_in(tmp_path / user / "shop", context="team-dev"))
    assert names == {"alice": "devloop-alice-shop", "bob": "devloop-bob-shop"}
    named = project_in(tmp_path / "x", context="team-dev", namespace="team-a-sandbox")
    assert namespace_for(named) == "team-a-sandbox"  # `namespace:` wins everywhere
    assert namespace_for(project_in(tmp_path / "y", namespace="mine")) == "mine"


def test_the_developer_is_user_else_the_login_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("USER", "carol")
    assert developer() == "carol"
    monkeypatch.delenv("USER")
    monkeypatch.setenv("LOGNAME", "dave")
    assert developer() == "dave"  # getpass reads LOGNAME first, then the password database


def test_registry_and_namespace_load_from_devloop_yaml(tmp_path: Path) -> None:
    path = tmp_path / "devloop.yaml"
    path.write_text(
        textwrap.dedent("""
        context: team-dev
        registry: registry.example.com:5000/team/
        namespace: shop-alice
        apps: [{name: web, image: nginx}]
    """)
    )
    project = load_project(path, None)
    assert (project.registry, project.namespace, project.context) == (
        "registry.example.com:5000/team",
        "shop-alice",
        "team-dev",
    )
    path.write_text("namespace: Shop_Alice\napps: [{name: web, image: nginx}]\n")
    with pytest.raises(
        ConfigError, match=r"devloop.yaml:1:\d+: .*invalid namespace 'Shop_Alice': use lower-case letters"
    ):
        load_project(path, None)


def test_registry_on_the_command_line_overrides_the_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "devloop.yaml").write_text("registry: old.example.com\napps: [{name: web, image: nginx}]\n")
    monkeypatch.chdir(tmp_path)
    seen: list[str | None] = []

    @click.command()
    @config_options
    @registry_option
    def command(config: CliContext) -> None:
        seen.append(config.load(quiet=True).registry)

    runner = CliRunner()
    assert runner.invoke(command, ["--registry", "ghcr.io/acme/dev/"]).exit_code == 0
    assert runner.invoke(command, []).exit_code == 0
    assert seen == ["ghcr.io/acme/dev", "old.example.com"]
    bad = runner.invoke(command, ["--registry", "https://ghcr.io/acme"])
    assert isinstance(bad.exception, UsageError) and "without a scheme" in str(bad.exception)


def test_a_registry_on_the_docker_provider_is_a_warning_not_a_silent_no_op(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "devloop.yaml").write_text("provider: docker\napps: [{name: web, image: nginx}]\n")
    monkeypatch.chdir(tmp_path)

    @click.command()
    @config_options
    @registry_option
    def command(config: CliContext) -> None:
        config.load()

    result = CliRunner().invoke(command, ["--registry", "ghcr.io/acme"])
    assert result.exit_code == 0
    assert "warning: devloop.yaml: registry ghcr.io/acme is for a Kubernetes cluster" in result.output
