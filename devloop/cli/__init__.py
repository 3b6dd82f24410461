"""The `devloop` command. Every DevloopError becomes one line and its exit code here."""

from __future__ import annotations

import dataclasses
import functools
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, cast

import click

from devloop import __version__
from devloop.core.spec import Provider
from devloop.errors import DevloopError, UsageError

if TYPE_CHECKING:
    from devloop.core.spec import ProjectSpec

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class ConfigOptions:
    """-f/--file, --vars-file, --var and --provider, as `cf push` takes them."""

    file: Path | None
    vars_files: tuple[Path, ...]
    var_pairs: tuple[str, ...]
    provider: str | None
    context: str | None = None

    def exists(self) -> bool:
        from devloop.config.loader import find_config

        try:
            find_config(self.file, Path.cwd())
        except DevloopError:
            return False
        return True

    def load(self, quiet: bool = False, names_only: bool = False) -> ProjectSpec:
        """The project, with a warning line for each setting devloop cannot honour.

        `names_only`: for commands that need the apps' names only (down, status, logs...):
        ((vars)) without a value are no error there, and no warnings are printed."""
        from devloop.config.loader import find_config, load_project, load_vars

        path = find_config(self.file, Path.cwd())
        variables = load_vars(self.vars_files, self.var_pairs)
        project = load_project(_display_path(path), variables, self.provider, lenient=names_only)
        quiet = quiet or names_only
        if self.context:  # an existing cluster instead of the kind one: the kind provider's job
            project = dataclasses.replace(project, context=self.context, provider=Provider.KIND)
        for notice in () if quiet else project.notices:
            click.echo(f"warning: {notice}", err=True)
        return project


def config_options(func: F) -> F:
    """Add the config options to a command, which receives them as `config: ConfigOptions`."""

    @functools.wraps(func)
    def wrapper(
        *args: Any,
        config_file: Path | None,
        vars_files: tuple[Path, ...],
        var_pairs: tuple[str, ...],
        provider: str | None,
        context: str | None,
        **kwargs: Any,
    ) -> Any:
        options = ConfigOptions(config_file, vars_files, var_pairs, provider, context)
        return func(*args, config=options, **kwargs)

    command: Any = wrapper
    command = click.option(
        "--context", help="Use this kubeconfig context (any cluster) instead of a kind cluster."
    )(command)
    command = click.option(
        "--provider", type=click.Choice(["kind", "docker"]), help="Override `provider:` from the config."
    )(command)
    command = click.option(
        "--var", "var_pairs", multiple=True, metavar="NAME=VALUE", help="A ((var)) value."
    )(command)
    command = click.option(
        "--vars-file",
        "vars_files",
        multiple=True,
        type=click.Path(path_type=Path),
        help="YAML file of ((var)) values (repeatable).",
    )(command)
    command = click.option(
        "-f",
        "--file",
        "config_file",
        type=click.Path(path_type=Path),
        help="devloop.yaml or manifest.yml (default: devloop.yaml, else manifest.yml here).",
    )(command)
    return cast(F, command)


def _display_path(path: Path) -> Path:
    """Paths under the current folder are shown relative, as the user typed them."""
    try:
        return path.resolve().relative_to(Path.cwd().resolve())
    except ValueError:
        return path


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="devloop")
def cli() -> None:
    """cf push / cf logs on a local Kubernetes: build, deploy, watch and follow your apps."""


@cli.command("init")
@click.argument("path", type=click.Path(path_type=Path), default=".")
@click.option("--force", is_flag=True, help="Overwrite an existing devloop.yaml.")
def init_command(path: Path, force: bool) -> None:
    """Detect the apps in PATH and write a commented devloop.yaml."""
    from devloop.cli.init import init as do_init

    target, found = do_init(path, force)
    for app in found:
        click.echo(f"found {app.name} in {app.path} ({app.how or 'prebuilt image'})")
    provider = "kind" if "\nprovider: kind\n" in target.read_text() else "docker"
    why = "" if provider == "kind" else ", as kind is not installed"
    click.echo(f"wrote {target} (provider: {provider}{why})")


@cli.command()
@config_options
def validate(config: ConfigOptions) -> None:
    """Load and check the config; print the apps it defines."""
    project = config.load()
    click.echo(f"{project.file}: {len(project.apps)} app(s), provider {project.provider.value}")
    for app in project.apps:
        if app.image:
            how = f"image {app.image}"
        elif app.build and app.build.missing:
            how = "not buildable yet (see the warning above)"
        elif app.build and app.build.dockerfile:
            how = f"Dockerfile {app.build.dockerfile.name}"
        elif app.build and app.build.language:
            how = f"generated {app.build.language.value} Dockerfile"
        else:
            how = "not buildable yet (see the warning above)"
        memory = f"{app.memory_mb}M" if app.memory_mb else "default memory"
        name = f"{app.display_name} ({app.name})" if app.display_name else app.name
        click.echo(f"  {name}: {app.instances} instance(s), {memory}, port {app.port}, {how}")
        for process in app.processes:
            command = process.command or "the image's default"
            click.echo(f"    process {process.type}: {process.instances} instance(s), `{command}`")
        for sidecar in app.sidecars:
            click.echo(
                f"    sidecar {sidecar.name} beside {', '.join(sidecar.process_types)}: `{sidecar.command}`"
            )


@cli.command("doctor")
@config_options
def doctor_command(config: ConfigOptions) -> None:
    """Check Docker, kind, disk, inotify, ports and kubeconfig; exit 3, 5 or 6 if `up` cannot work."""
    from devloop.cli.doctor import Verdict, exit_code, run_checks
    from devloop.core.routes import dedicated_port
    from devloop.core.spec import DEFAULT_ROUTER_PORT

    chosen = config.provider or "kind"
    ports = [DEFAULT_ROUTER_PORT]
    if config.exists():  # doctor works without a config, with defaults
        project = config.load()
        chosen = project.provider.value
        # What devloop listens on: the router's shared port, apps' own ports, services' published ports.
        wanted = [project.router_port, *(dedicated_port(a) for a in project.apps)]
        ports = [p for p in (*wanted, *(s.host_port for s in project.services)) if p is not None]
    checks = run_checks(chosen, ports, Path.cwd())
    marks = {Verdict.PASS: "ok  ", Verdict.WARN: "warn", Verdict.FAIL: "FAIL"}
    for check in checks:
        click.echo(f"[{marks[check.verdict]}] {check.name}: {check.detail}")
        if check.fix and check.verdict is not Verdict.PASS:
            click.echo(f"       fix: {check.fix}")
    blocking = [c.name for c in checks if c.blocks]
    if blocking:
        click.echo(f"devloop up cannot work yet: {', '.join(blocking)}", err=True)
        sys.exit(exit_code(checks))
    click.echo(f"ready for devloop up (provider {chosen})")


@cli.command()
@config_options
@click.argument("apps", nargs=-1)
@click.option(
    "--print-dockerfile", is_flag=True, help="Print the Dockerfile each app builds with; build nothing."
)
@click.option("--force", is_flag=True, help="Build even when an image of the same inputs exists.")
def build(
    config: ConfigOptions,
    apps: tuple[str, ...],
    print_dockerfile: bool,
    force: bool,
) -> None:
    """Build the apps' images (all, or APPS), tagged by a hash of their inputs."""
    import asyncio

    from devloop.build.builder import ImageBuilder
    from devloop.build.builder import print_dockerfile as dockerfile_of
    from devloop.cli.printer import print_build_output

    project = config.load()
    selected = select_apps(project, apps)
    if print_dockerfile:
        for app in selected:
            if len(selected) > 1:
                click.echo(f"# --- {app.name}")
            click.echo(dockerfile_of(app), nl=False)
        return
    from devloop.adapters import dockerapi, dockercli

    client = dockercli.detect()
    if not client.buildkit:
        click.echo("warning: this docker client has no BuildKit; using the legacy builder", err=True)
    builder = ImageBuilder(client, dockerapi.connect())

    async def run_all() -> None:
        for app in selected:
            if app.build is None:
                click.echo(f"{app.name}: prebuilt image {app.image}, nothing to build")
                continue
            await builder.build(app, print_build_output, force=force)

    asyncio.run(run_all())


def select_apps(project: Any, names: tuple[str, ...]) -> list[Any]:
    """The apps named on the command line (all when none), or a UsageError naming the known ones."""
    if not names:
        return list(project.apps)
    known = {a.name: a for a in project.apps}
    known.update({a.display_name: a for a in project.apps if a.display_name and a.display_name not in known})
    unknown = [n for n in names if n not in known]
    if unknown:
        from devloop.errors import UsageError

        raise UsageError(f"no app named {', '.join(unknown)}; apps here: {', '.join(known)}")
    return [known[n] for n in names]


def make_provider(project: Any) -> Any:
    if project.provider is Provider.DOCKER:
        from devloop.providers.docker.provider import DockerProvider

        return DockerProvider(project)
    from devloop.providers.kind.provider import KindProvider

    return KindProvider(project)


@cli.command("up")
@config_options
@click.option(
    "--no-tui", is_flag=True, help="Plain streamed output (the default when stdout is not a terminal)."
)
@click.option("--down-on-exit", is_flag=True, help="Remove the apps when devloop stops.")
@click.option("--manual", is_flag=True, help="Queue changes instead of rebuilding on every save.")
@click.option("--no-watch", is_flag=True, help="Deploy once and follow logs; do not watch files.")
@click.option("--no-router-logs", is_flag=True, help="Leave the router's [RTR] access lines out.")
def up_command(
    config: ConfigOptions,
    no_tui: bool,
    down_on_exit: bool,
    manual: bool,
    no_watch: bool,
    no_router_logs: bool,
) -> None:
    """Build, deploy and follow the apps; rebuild or sync on every save (Ctrl-C to stop)."""
    from devloop.cli.up import run_up

    project = config.load()
    tui = not no_tui and sys.stdout.isatty() and sys.stdin.isatty()
    code = run_up(
        project,
        make_provider(project),
        down_on_exit=down_on_exit,
        manual=manual,
        watch=not no_watch,
        tui=tui,
        router_logs=not no_router_logs,
        reloader=lambda: config.load(quiet=True),
        config_files=config.vars_files,
    )
    sys.exit(code)


@cli.command()
@config_options
@click.argument("apps", nargs=-1)
@click.option("--cluster", "delete_cluster", is_flag=True, help="Delete the kind cluster too.")
@click.option("--purge", is_flag=True, help="Delete the services' data and passwords too.")
def down(
    config: ConfigOptions,
    apps: tuple[str, ...],
    delete_cluster: bool,
    purge: bool,
) -> None:
    """Remove the apps' instances (all apps, or APPS) and the services; --purge their data too."""
    import asyncio

    project = config.load(names_only=True)
    selected = select_apps(project, apps) if apps else None
    target = make_provider(project)
    if purge and apps:
        raise UsageError("--purge deletes every service's data: run it without app names")
    if delete_cluster and (project.provider is not Provider.KIND or project.context):
        raise UsageError("--cluster deletes the kind cluster devloop made; this project uses none")

    from devloop.core.removal import Removed, describe_removal

    async def remove() -> int | Removed:
        try:
            if delete_cluster:
                await target.delete_cluster()
                return 0
            return await target.remove(selected, purge=purge)  # type: ignore[no-any-return]
        finally:
            await target.close()

    removed = asyncio.run(remove())
    if delete_cluster:
        click.echo(f"deleted kind cluster {project.cluster}")
    else:
        click.echo(describe_removal(removed))


@cli.command()
@config_options
@click.argument("apps", nargs=-1)
def trigger(
    config: ConfigOptions,
    apps: tuple[str, ...],
) -> None:
    """Build and deploy queued changes now (all apps, or APPS), as in manual mode."""
    from devloop.engine.control import send
    from devloop.providers.docker.provider import project_id

    project = config.load()
    names = [a.name for a in select_apps(project, apps)]
    answer = send(project_id(project.file), {"cmd": "trigger", "apps": names})
    if "error" in answer:
        raise UsageError(str(answer["error"]))
    click.echo(f"triggered {', '.join(names)}")


@cli.command("export")
@config_options
@click.option("-o", "--output", type=click.Path(path_type=Path), default=Path("k8s"), show_default=True)
@click.option(
    "--format", "fmt", type=click.Choice(["yaml", "kustomize", "helm"]), default="yaml", show_default=True
)
@click.option("--autoscale", is_flag=True,
              help="Add a HorizontalPodAutoscaler for apps with more than one instance.")  # fmt: skip
def export_command(config: ConfigOptions, output: Path, fmt: str, autoscale: bool) -> None:
    """Write the Kubernetes objects devloop would apply (yaml, kustomize or helm)."""
    from devloop.build.builder import ImageBuilder
    from devloop.cli.export import credential_notices, write
    from devloop.providers.docker.provider import project_id

    project = config.load()
    planner = ImageBuilder(None)
    images = {app.name: app.image or _export_image(planner, app) for app in project.apps}
    written = write(project, images, project_id(project.file), output, fmt, autoscale)
    for notice in credential_notices(project):
        click.echo(f"warning: {notice}", err=True)
    click.echo(f"wrote {len(written)} file(s) to {output} ({fmt}); secret values are placeholders")


def _export_image(planner: Any, app: Any) -> str:
    """The image an app's objects name: its content tag, or a placeholder while it cannot be built yet."""
    from devloop.build.builder import image_repository
    from devloop.errors import BuildContextError

    try:
        return pinned(planner.plan(app).image)
    except BuildContextError:
        click.echo(f"warning: {app.name} cannot be built yet; its objects name the image "
                   f"{image_repository(app.name)}:unbuilt (see `devloop validate`)", err=True)  # fmt: skip
        return f"{image_repository(app.name)}:unbuilt"


def pinned(image: str) -> str:
    """repository@digest when the local engine knows the image's registry digest, else the tag."""
    from devloop.adapters import dockerapi

    try:
        engine = dockerapi.connect(timeout=2)
        digests = engine.images.get(image).attrs.get("RepoDigests") or []
    except Exception:  # no engine, or not built yet: the content tag is exact enough
        return image
    return str(digests[0]) if digests else image


@cli.command()
@config_options
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def status(config: ConfigOptions, as_json: bool) -> None:
    """Apps, state, instances, memory and URL (like `cf apps`)."""
    from devloop.cli.apps import print_status, status_rows

    project = config.load(names_only=True)
    unrouted = frozenset(a.name for a in project.apps if a.no_route)
    print_status(status_rows(project, make_provider(project)), as_json, unrouted)


@cli.command()
@config_options
@click.argument("app")
@click.option("-i", "--instances", type=click.IntRange(0, 100), help="Number of instances.")
@click.option("-m", "--memory", help="Memory per instance, e.g. 512M.")
@click.option("--process", default="web", show_default=True, help="The process type to scale.")
def scale(config: ConfigOptions, app: str, instances: int | None, memory: str | None, process: str) -> None:
    """Change an app's instances or memory in the running `devloop up` (like `cf scale`)."""
    from devloop.cli.apps import ask
    from devloop.core.spec import parse_memory_mb

    project = config.load()
    select_apps(project, (app,))
    if instances is None and memory is None:
        raise UsageError("say what to change: -i INSTANCES and/or -m MEMORY")
    try:
        memory_mb = parse_memory_mb(memory) if memory else None
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    ask(project, {"cmd": "scale", "app": app, "instances": instances, "memory_mb": memory_mb,
                  "process": process})  # fmt: skip
    click.echo(f"scaling {app}" + (f" process {process}" if process != "web" else ""))
    click.echo(
        f"kept while this devloop up runs (config edits keep it too); to keep it after, set it in "
        f"{project.file.name}"
    )


@cli.command()
@config_options
@click.argument("app")
def restart(config: ConfigOptions, app: str) -> None:
    """Restart an app's instances one at a time (like `cf restart`)."""
    from devloop.cli.apps import ask

    project = config.load(names_only=True)
    select_apps(project, (app,))
    ask(project, {"cmd": "restart", "app": app})
    click.echo(f"restarting {app}")


@cli.command()
@config_options
@click.argument("app")
@click.option("--show-secrets", is_flag=True, help="Show secret values instead of masking them.")
def env(config: ConfigOptions, app: str, show_secrets: bool) -> None:
    """An app's system- and user-provided environment, read from a running instance; secret values
    masked (like `cf env`)."""
    from devloop.cli.apps import env_lines

    project = config.load()
    (spec,) = select_apps(project, (app,))
    for line in env_lines(make_provider(project), spec, show_secrets):
        click.echo(line)


def _edit_env(config: ConfigOptions, app: str, change: Callable[[Path], str]) -> None:
    from devloop.cli.apps import ask, running_up

    project = config.load(quiet=True)
    select_apps(project, (app,))
    message = change(Path(project.file))
    config.load(quiet=True)  # the edited file must still load
    click.echo(message)
    if running_up(project):
        changed = ask(project, {"cmd": "reload"}).get("changed", [])
        click.echo("the running devloop up picked it up" + (f" ({', '.join(changed)})" if changed else ""))


@cli.command("set-env")
@config_options
@click.argument("app")
@click.argument("key")
@click.argument("value")
def set_env(config: ConfigOptions, app: str, key: str, value: str) -> None:
    """Set an env var in the config file, keeping its comments (like `cf set-env`)."""
    from devloop.config import edit

    def change(path: Path) -> str:
        edit.set_env(path, app, key, value)
        return f"set {key} for {app} in {path}"

    _edit_env(config, app, change)


@cli.command("unset-env")
@config_options
@click.argument("app")
@click.argument("key")
def unset_env(config: ConfigOptions, app: str, key: str) -> None:
    """Remove an env var from the config file (like `cf unset-env`)."""
    from devloop.config import edit

    def change(path: Path) -> str:
        found = edit.unset_env(path, app, key)
        return f"removed {key} from {app}" if found else f"{app} had no {key}; nothing changed"

    _edit_env(config, app, change)


@cli.command()
@config_options
@click.argument("app")
@click.option("-i", "--instance", "index", type=int, default=0, show_default=True)
@click.option("--process", default="web", show_default=True, help="The process type (cf `processes`).")
@click.option("-c", "--command", help="Run this command instead of an interactive shell.")
def ssh(config: ConfigOptions, app: str, index: int, process: str, command: str | None) -> None:
    """A shell in one instance of an app (like `cf ssh`)."""
    from devloop.cli.apps import shell
    from devloop.core.processes import process_types

    project = config.load(names_only=True)
    (spec,) = select_apps(project, (app,))
    if process not in process_types(spec):
        raise UsageError(f"{app} has no process type {process!r}; it has: {', '.join(process_types(spec))}")
    shell(make_provider(project), spec, index, command, process)


@cli.command("services")
@config_options
def services_command(config: ConfigOptions) -> None:
    """The backing services: type, plan, state and bound apps (like `cf services`)."""
    from devloop.cli.services import list_services

    project = config.load()
    list_services(project, make_provider(project))


@cli.command("service-key")
@config_options
@click.argument("name")
@click.option("--show-secrets", is_flag=True, help="Show the password instead of *****.")
def service_key(config: ConfigOptions, name: str, show_secrets: bool) -> None:
    """The credentials bound apps get for service NAME, as JSON (like `cf service-key`)."""
    from devloop.cli.services import service_key as show

    project = config.load()
    show(project, make_provider(project), name, show_secrets)


def _service_shell_command(command: str, expect: str | None, summary: str) -> None:
    @cli.command(command, help=summary, context_settings={"ignore_unknown_options": True})
    @config_options
    @click.argument("name")
    @click.argument("args", nargs=-1, type=click.UNPROCESSED)
    def run(config: ConfigOptions, name: str, args: tuple[str, ...]) -> None:
        from devloop.cli.services import service_shell

        project = config.load()
        service_shell(project, make_provider(project), name, expect, args)


_service_shell_command(
    "service-shell", None, "The client of service NAME inside its container (ARGS go to it)."
)
_service_shell_command("psql", "postgres", "psql on postgres service NAME (ARGS go to psql).")
_service_shell_command("redis-cli", "redis", "redis-cli on redis service NAME (ARGS go to redis-cli).")


@cli.command("open")
@config_options
@click.argument("app")
def open_app(config: ConfigOptions, app: str) -> None:
    """Open an app's URL in the browser."""
    import webbrowser

    from devloop.cli.apps import ask

    project = config.load(names_only=True)
    select_apps(project, (app,))
    rows = {row["name"]: row for row in ask(project, {"cmd": "status"})["apps"]}
    url = rows[app].get("url")
    if not url:
        raise UsageError(f"{app} has no URL yet", hint="wait until it runs in `devloop up`")
    click.echo(url)
    webbrowser.open(url)


@cli.command()
@config_options
def push(config: ConfigOptions) -> None:
    """Build and deploy once, wait for health, print where the apps serve, exit (like `cf push`)."""
    from devloop.cli.apps import push as do_push

    project = config.load()
    sys.exit(do_push(project, make_provider(project)))


@cli.command("logs")
@config_options
@click.argument("apps", nargs=-1)
@click.option("--recent", is_flag=True, help="Print recent lines and exit (like `cf logs --recent`).")
@click.option("--since", "since", metavar="DURATION", help="Only lines newer than this, e.g. 30s, 5m, 2h.")
@click.option("--tail", "last", type=click.IntRange(0), help="Start with the last N lines of each instance.")
@click.option("--include", multiple=True, metavar="REGEX", help="Only lines matching (repeatable).")
@click.option("--exclude", multiple=True, metavar="REGEX", help="Leave out lines matching (repeatable).")
@click.option("--container", help="Only this container (id or name prefix).")
@click.option("--timestamps", is_flag=True, help="Show each line's timestamp.")
@click.option("-o", "--output", "mode", type=click.Choice(["default", "raw", "json"]), default="default")
@click.option("--no-color", is_flag=True, help="No colours (also when NO_COLOR is set).")
def logs_command(
    config: ConfigOptions,
    apps: tuple[str, ...],
    recent: bool,
    since: str | None,
    last: int | None,
    include: tuple[str, ...],
    exclude: tuple[str, ...],
    container: str | None,
    timestamps: bool,
    mode: str,
    no_color: bool,
) -> None:
    """Follow every instance's output, stern-style (like `cf logs`)."""
    import asyncio
    import os
    import re

    from devloop.cli.logs import show_logs
    from devloop.core.logformat import LogFilter, parse_duration

    project = config.load(names_only=True)
    select_apps(project, apps)
    try:
        since_s = parse_duration(since) if since else None
        flt = LogFilter(
            apps=frozenset(apps),
            include=tuple(re.compile(p) for p in include),
            exclude=tuple(re.compile(p) for p in exclude),
            container=container,
        )
    except (ValueError, re.error) as exc:
        raise UsageError(str(exc)) from None
    colour = not no_color and "NO_COLOR" not in os.environ and sys.stdout.isatty()
    provider = make_provider(project)

    async def run() -> int:
        try:
            return await show_logs(
                project, provider, flt, recent=recent, since_s=since_s, last=last, mode=mode,
                timestamps=timestamps, colour=colour, out=lambda text: click.echo(text, color=colour),
            )  # fmt: skip
        finally:
            await provider.close()

    sys.exit(asyncio.run(run()))


@cli.command()
@click.argument("shell", type=click.Choice(["bash", "zsh", "fish"]))
def completion(shell: str) -> None:
    """Print the shell completion script, e.g. `eval "$(devloop completion bash)"`."""
    from click.shell_completion import get_completion_class

    cls = get_completion_class(shell)
    assert cls is not None
    click.echo(cls(cli, {}, "devloop", "_DEVLOOP_COMPLETE").source())


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the CLI, turning errors into one message and a stable exit code."""
    try:
        cli.main(args=argv, prog_name="devloop", standalone_mode=False)
    except DevloopError as exc:
        click.echo(f"error: {exc.render()}", err=True)
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        sys.exit(130)
