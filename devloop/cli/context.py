"""What every command shares: the config options (`-f`, `--var`, `--provider`...) in one object on
the click context, and the composition root that picks the provider, the router and the builder."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import click

from devloop.core.spec import AppSpec, Notice, ProjectSpec, ProviderKind
from devloop.errors import DevloopError, UsageError

if TYPE_CHECKING:  # imported when used: `validate` and `--help` need neither asyncio nor the router
    from devloop.adapters.dockercli import DockerClient
    from devloop.build.builder import ImageBuilder
    from devloop.providers.docker.provider import DockerProvider
    from devloop.providers.kind.provider import KindProvider
    from devloop.router.router import Router

    AnyProvider = DockerProvider | KindProvider

R = TypeVar("R")


@dataclass
class CliContext:
    """-f/--file, --vars-file, --var, --provider and --context, as `cf push` takes them."""

    file: Path | None = None
    vars_files: tuple[Path, ...] = ()
    var_pairs: tuple[str, ...] = ()
    provider: str | None = None
    context: str | None = None
    registry: str | None = None  # --registry on up, push and build (registry_option)

    def exists(self) -> bool:
        from devloop.config.files import find_config

        try:
            find_config(self.file, Path.cwd())
        except DevloopError:
            return False
        return True

    def load(self, quiet: bool = False, names_only: bool = False, detect: bool = True) -> ProjectSpec:
        """The project, with a warning line for each setting devloop cannot honour.

        `names_only`: for commands that need the apps' names only (down, status, logs...):
        ((vars)) without a value are no error there, and no warnings are printed.
        `detect`: in a folder with no config (and no -f), the apps `devloop init` would write,
        said in one line, as `cf push` works in any folder."""
        from devloop.config import cache
        from devloop.config.files import find_config

        quiet = quiet or names_only
        if detect and self.file is None:
            from devloop.config.implicit import detect_project, has_config

            if not has_config(Path.cwd()):
                detected = detect_project(Path.cwd(), self.provider)
                if not quiet:
                    click.echo(detected.notice, err=True)
                return self._with_context(detected.project)
        path = _display_path(find_config(self.file, Path.cwd()))

        def fresh() -> ProjectSpec:
            from devloop.config.loader import load_project, load_vars  # YAML and pydantic

            variables = load_vars(self.vars_files, self.var_pairs)
            return load_project(path, variables, self.provider, lenient=names_only)

        kept = cache.load(path, self.vars_files, self.var_pairs, self.provider, names_only, fresh)
        project = self._with_context(kept)
        for notice in () if quiet else project.notices:
            click.echo(f"warning: {notice}", err=True)
        return project

    def _with_context(self, project: ProjectSpec) -> ProjectSpec:
        if self.context:  # an existing cluster instead of the kind one: the kind provider's job
            project = dataclasses.replace(project, context=self.context, provider=ProviderKind.KIND)
        if self.registry:
            project = dataclasses.replace(project, registry=self.registry)
        if project.registry and project.provider is ProviderKind.DOCKER:
            unused = Notice(str(project.file.name), f"registry {project.registry} is for a Kubernetes "
                            "cluster; the docker provider runs images where they are built")  # fmt: skip
            project = dataclasses.replace(project, notices=(*project.notices, unused))
        return project


def config_options(func: Callable[..., R], short_file: bool = True) -> Callable[..., R]:
    """Add the config options to a command, which receives them as `config`: the CliContext kept
    as the click context's object."""

    @functools.wraps(func)
    def wrapper(
        *args: object,
        config_file: Path | None,
        vars_files: tuple[Path, ...],
        var_pairs: tuple[str, ...],
        provider: str | None,
        context: str | None,
        **kwargs: object,
    ) -> R:
        config = click.get_current_context().ensure_object(CliContext)
        config.file, config.vars_files, config.var_pairs = config_file, vars_files, var_pairs
        config.provider, config.context = provider, context
        return func(*args, config=config, **kwargs)

    file_flags = ("-f", "--file") if short_file else ("--file",)
    options = [
        click.option(*file_flags, "config_file", type=click.Path(path_type=Path),
                     help="devloop.yaml or manifest.yml (default: devloop.yaml, else manifest.yml here)."),
        click.option("--vars-file", "vars_files", multiple=True, type=click.Path(path_type=Path),
                     help="YAML file of ((var)) values (repeatable)."),
        click.option("--var", "var_pairs", multiple=True, metavar="NAME=VALUE", help="A ((var)) value."),
        click.option("--provider", type=click.Choice(["kind", "docker"]),
                     help="Override `provider:` from the config."),
        click.option("--context",
                     help="Use this kubeconfig context (any cluster) instead of a kind cluster."),
    ]  # fmt: skip
    command = wrapper
    for option in reversed(options):
        command = option(command)
    return command


def registry_option(func: Callable[..., R]) -> Callable[..., R]:
    """`--registry HOST[:PORT]/PREFIX` (as Skaffold's --default-repo): images pushed there, pods
    run them by digest; kept on the CliContext, which hands it to the project it loads."""

    def remember(ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
        if value is not None:
            from devloop.core.shared_cluster import parse_registry

            try:
                value = str(parse_registry(value))
            except ValueError as exc:
                raise UsageError(f"--registry: {exc}") from None
            ctx.ensure_object(CliContext).registry = value
        return value

    return click.option(
        "--registry", metavar="HOST[:PORT]/PREFIX", callback=remember, expose_value=False, is_eager=True,
        help="Push images to this registry (your `docker login` credentials); overrides `registry:`.",
    )(func)  # fmt: skip


def config_options_long_file(func: Callable[..., R]) -> Callable[..., R]:
    """The config options with the file as `--file` only, where `-f` is the follow of `logs -f`."""
    return config_options(func, short_file=False)


def _display_path(path: Path) -> Path:
    """Paths under the current folder are shown relative, as the user typed them."""
    try:
        return path.resolve().relative_to(Path.cwd().resolve())
    except ValueError:
        return path


def select_apps(project: ProjectSpec, names: tuple[str, ...]) -> list[AppSpec]:
    """The apps named on the command line (all when none), or a UsageError naming the known ones."""
    if not names:
        return list(project.apps)
    known = {a.name: a for a in project.apps}
    known.update({a.display_name: a for a in project.apps if a.display_name and a.display_name not in known})
    unknown = [n for n in names if n not in known]
    if unknown:
        raise UsageError(f"no app named {', '.join(unknown)}; apps here: {', '.join(known)}")
    return [known[n] for n in names]


# --- the composition root: which provider, which router, which builder ----------------------------


def make_router(project: ProjectSpec) -> Router:
    """The apps' stable URLs, one per project; the provider keeps its rotation, the engine reads it."""
    from devloop.providers.shared import project_id
    from devloop.router.router import Router

    return Router(project.router_port, project_id(project.file))


def make_provider(project: ProjectSpec, router: Router | None = None) -> AnyProvider:
    """The provider the project asks for, driving `router` (imported only when chosen: kind's
    brings the Kubernetes client)."""
    router = router or make_router(project)
    if project.provider is ProviderKind.DOCKER:
        from devloop.providers.docker.provider import DockerProvider

        return DockerProvider(project, router=router)
    from devloop.providers.kind.provider import KindProvider

    return KindProvider(project, router=router)


def make_builder(
    no_buildkit_warning: str | None = None, *, client_when_building: bool = False
) -> ImageBuilder:
    """The image builder on the local Docker engine; `no_buildkit_warning` is printed when the
    docker client cannot use BuildKit. `client_when_building`: the client is found (and said) on
    the first build that runs, not now: `devloop build` of up-to-date images needs none."""
    from devloop.adapters import dockercli, dockerhttp
    from devloop.build.builder import ImageBuilder

    def client() -> DockerClient:
        found = dockercli.detect()
        if no_buildkit_warning and not found.buildkit:
            click.echo(f"warning: {no_buildkit_warning}", err=True)
        return found

    return ImageBuilder(client if client_when_building else client(), dockerhttp.open_engine())


@dataclass(frozen=True)
class Stack:
    """Everything a running engine drives, wired together: one router shared by provider and engine."""

    router: Router
    provider: AnyProvider
    builder: ImageBuilder


def compose(project: ProjectSpec, no_buildkit_warning: str | None = None) -> Stack:
    """The router, the provider driving it and the builder, for `devloop up` and `devloop push`."""
    router = make_router(project)
    return Stack(router, make_provider(project, router), make_builder(no_buildkit_warning))
