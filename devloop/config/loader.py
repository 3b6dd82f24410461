"""Read and validate a devloop.yaml or Cloud Foundry manifest.yml into a ProjectSpec (finding one:
`devloop.config.files`)."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import yaml

from devloop.config import files
from devloop.config.common import (
    resolve_build,
    resolve_dir,
    resolve_processes,
    resolve_sidecars,
    str_pairs,
    validate,
)
from devloop.config.dotenv import parse_dotenv
from devloop.config.schema import AppConfig, DevloopConfig, HealthCheckConfig
from devloop.config.yamlpos import Positions, YamlPath, drop_unresolved, load_yaml
from devloop.core.processes import WEB, default_health
from devloop.core.pull import PullPolicy
from devloop.core.services import ServiceSpec, exact_type
from devloop.core.spec import (
    AppSpec,
    HealthCheck,
    HealthCheckType,
    ProcessSpec,
    ProjectSpec,
    ProviderKind,
    SyncRestart,
    SyncRule,
    TaskSpec,
    parse_memory_mb,
)
from devloop.errors import ConfigError, Location, UsageError

LOOKED_FOR = (
    "devloop looked for `applications:` (a Cloud Foundry manifest, or `inherit:` of one) "
    "or `apps:` (a devloop.yaml)"
)


def _kind(value: object) -> str:
    return {list: "list", str: "string", int: "number", float: "number", bool: "boolean"}.get(
        type(value), "value"
    )


def looks_like_cf(data: Mapping[str, Any]) -> bool:
    """A cf manifest rather than a devloop.yaml: cf's keys and no devloop `apps:` list."""
    return "apps" not in data and bool({"applications", "inherit"} & set(data))


def load_vars(vars_files: Iterable[Path] = (), pairs: Iterable[str] = ()) -> dict[str, Any]:
    """Variables for ((name)) placeholders: files first, then --var NAME=VALUE pairs."""
    variables: dict[str, Any] = {}
    for path in vars_files:
        try:
            text = files.read_text(path)
        except OSError as exc:
            raise UsageError(f"cannot read vars file {path}: {exc.strerror}") from None
        data, positions = load_yaml(text, str(path))
        if data is None:
            continue
        if not isinstance(data, dict):
            raise ConfigError(positions.at(()), "a vars file must be a mapping of NAME: value")
        variables.update(data)
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise UsageError(f"--var takes NAME=VALUE, got {pair!r}")
        variables[name] = var_value(value)
    return variables


def var_value(text: str) -> Any:
    """A `--var` value as cf reads it: YAML (`2` is a number, `true` a boolean), else the text."""
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        return text
    if value is None:
        return text  # `--var a=` and `--var a=~` keep their text, as cf passes it on
    return value if isinstance(value, str | int | float | bool | list | dict) else text


def load_project(
    path: Path,
    variables: Mapping[str, Any] | None = None,
    provider_override: str | None = None,
    *,
    lenient: bool = False,
) -> ProjectSpec:
    """The project in `path`. `lenient`: ((vars)) without a value are left out instead of refused."""
    try:
        text = files.read_text(path)
    except UnicodeDecodeError:
        raise ConfigError(Location(str(path)), "not a UTF-8 text file") from None
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}") from None
    return load_project_text(text, path, variables, provider_override, lenient=lenient)


def load_project_text(
    text: str,
    path: Path,
    variables: Mapping[str, Any] | None = None,
    provider_override: str | None = None,
    *,
    lenient: bool = False,
) -> ProjectSpec:
    """The project in `text`, as if read from `path` (which need not exist: a detected project)."""
    variables = variables if variables is not None else {}
    data, positions = load_yaml(text, str(path), variables, lenient=lenient)
    if lenient:
        data = drop_unresolved(data)
    if data is None:
        raise ConfigError(Location(str(path), 1, 1), f"the file is empty; {LOOKED_FOR}")
    if not isinstance(data, dict):
        raise ConfigError(positions.at(()), f"the top level must be a mapping, not a {_kind(data)}")
    base = files.resolve(path.parent)
    if looks_like_cf(data):
        from devloop.config import cfmanifest  # its schema costs 0.1-0.3 s to build: only for cf files

        project = cfmanifest.load(data, positions, path, variables, lenient=lenient)
    elif "apps" not in data:
        keys = ", ".join(str(k) for k in data) or "none"
        raise ConfigError(
            positions.at(()), f"no list of apps here: {LOOKED_FOR}; this file's top-level keys: {keys}"
        )
    else:
        config = validate(DevloopConfig, data, positions)
        apps = tuple(_app_from_config(app, base, positions, ("apps", i)) for i, app in enumerate(config.apps))
        project = ProjectSpec(
            file=path,
            apps=apps,
            provider=ProviderKind(config.provider),
            cluster=config.cluster,
            context=config.context,
            registry=config.registry,
            namespace=config.namespace,
            router_port=config.router_port,
            keep_images=config.keep_images,
            services=_services_from_config(config, positions),
        )
        check_bindings(project, positions)
    check_apps(project.apps, positions)
    if provider_override is not None:
        project = replace(project, provider=ProviderKind(provider_override))
    return project


def health_from_config(cfg: HealthCheckConfig) -> HealthCheck:
    return HealthCheck(
        type=HealthCheckType(cfg.type),
        endpoint=cfg.endpoint,
        timeout_s=cfg.timeout,
        invocation_timeout_s=cfg.invocation_timeout,
        interval_s=cfg.interval,
    )


def _app_from_config(app: AppConfig, base: Path, positions: Positions, at: YamlPath) -> AppSpec:
    for i, task in enumerate(app.tasks):
        if any(t.name == task.name for t in app.tasks[:i]):
            raise ConfigError(positions.at((*at, "tasks", i, "name")), f"duplicate task name {task.name!r}")
    source = resolve_dir(base, app.path, positions, (*at, "path"))
    build = None
    if app.image is None:
        build = resolve_build(source, app.dockerfile, app.language, app.target, app.build_args, positions, at)
    secret_env: tuple[tuple[str, str], ...] = ()
    if app.env_file is not None:
        env_path = files.resolve(source / app.env_file)
        if not files.is_file(env_path):
            raise ConfigError(positions.at((*at, "env_file")), f"env file {app.env_file!r} does not exist")
        secret_env = parse_dotenv(env_path)
    routes = tuple(app.routes) + ((app.route,) if app.route else ())
    manifests = None
    if app.manifests is not None:
        manifests = files.resolve(source / app.manifests)
        if not files.exists(manifests):
            raise ConfigError(positions.at((*at, "manifests")), f"manifests {app.manifests!r} do not exist")
    spec = AppSpec(
        name=app.name,
        source=source,
        build=build,
        image=app.image,
        pull=PullPolicy(app.pull),
        instances=app.instances,
        memory_mb=parse_memory_mb(app.memory) if app.memory is not None else None,
        disk_mb=parse_memory_mb(app.disk_quota) if app.disk_quota is not None else None,
        command=app.command,
        env=str_pairs(app.env),
        secret_env=secret_env,
        port=app.port,
        routes=routes,
        host_port=app.host_port,
        no_route=app.no_route,
        random_route=app.random_route,
        health=health_from_config(app.health_check),
        sync=tuple(SyncRule(r.src, r.dest) for r in app.sync),
        sync_restart=SyncRestart(app.on_sync.signal, app.on_sync.run) if app.on_sync else None,
        depends_on=tuple(app.depends_on),
        manifests=manifests,
        services=tuple(app.services),
        processes=tuple(
            ProcessSpec(
                type=p.type,
                command=p.command,
                instances=p.instances,
                memory_mb=parse_memory_mb(p.memory) if p.memory is not None else None,
                health=default_health(p.type, health_from_config(p.health_check) if p.health_check else None),
            )
            for p in app.processes
        ),
        sidecars=resolve_sidecars(app.sidecars),
        tasks=tuple(
            TaskSpec(t.name, t.command, t.before_start, parse_memory_mb(t.memory) if t.memory else None)
            for t in app.tasks
        ),
        debug="wait" if app.debug == "wait" else ("on" if app.debug else ""),
    )
    web = next((p for p in app.processes if p.type == WEB), None)
    given = frozenset(_SPEC_FIELD[f] for f in (web.model_fields_set if web else ()) if f in _SPEC_FIELD)
    return resolve_processes(spec, given, positions, at)


# ProcessConfig field -> the AppSpec field a `web` entry overrides
_SPEC_FIELD = {
    "command": "command", "instances": "instances", "memory": "memory_mb", "health_check": "health"
}  # fmt: skip


def _services_from_config(config: DevloopConfig, positions: Positions) -> tuple[ServiceSpec, ...]:
    services: list[ServiceSpec] = []
    ports: dict[int, str] = {}
    for i, service in enumerate(config.services):
        if any(s.name == service.name for s in services):
            raise ConfigError(
                positions.at(("services", i, "name")), f"duplicate service name {service.name!r}"
            )
        if service.port is not None and service.port in ports:
            raise ConfigError(
                positions.at(("services", i, "port")),
                f"services {ports[service.port]!r} and {service.name!r} both want port {service.port}",
            )
        if service.port is not None:
            ports[service.port] = service.name
        kind = exact_type(service.type)
        assert kind is not None  # the schema checked it
        services.append(
            ServiceSpec(
                service.name,
                kind,
                service.plan,
                service.port,
                service.timeout,
                service.image,
                PullPolicy(service.pull),
            )
        )
    return tuple(services)


def check_bindings(project: ProjectSpec, positions: Positions) -> None:
    """Every service an app binds exists (a devloop.yaml project names its services)."""
    known = [s.name for s in project.services]
    for i, app in enumerate(project.apps):
        for j, name in enumerate(app.services):
            if name not in known:
                close = difflib.get_close_matches(name, known, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                listed = ", ".join(known) if known else "none: add a top-level 'services:' list"
                raise ConfigError(
                    positions.at(("apps", i, "services", j)),
                    f"app {app.name!r} binds service {name!r}, which is not defined{hint}; "
                    f"services here: {listed}",
                )


def check_apps(apps: tuple[AppSpec, ...], positions: Positions) -> None:
    """Cross-app rules: unique names, dependencies that exist and form no cycle."""
    list_key = "applications" if ("applications", 0) in positions.values else "apps"
    seen: set[str] = set()
    for i, app in enumerate(apps):
        if app.name in seen:
            raise ConfigError(positions.at((list_key, i, "name")), f"duplicate app name {app.name!r}")
        seen.add(app.name)
    for i, app in enumerate(apps):
        for j, dep in enumerate(app.depends_on):
            if dep not in seen:
                close = difflib.get_close_matches(dep, sorted(seen), n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                raise ConfigError(
                    positions.at((list_key, i, "depends_on", j)),
                    f"app {app.name!r} depends on {dep!r}, which is not an app here{hint}",
                )
            if dep == app.name:
                raise ConfigError(
                    positions.at((list_key, i, "depends_on", j)),
                    f"app {app.name!r} depends on itself",
                )
    cycle = find_cycle({a.name: a.depends_on for a in apps})
    if cycle:
        index = next(i for i, a in enumerate(apps) if a.name == cycle[0])
        raise ConfigError(
            positions.at((list_key, index, "depends_on")),
            "depends_on forms a cycle: " + " -> ".join(cycle),
        )


def find_cycle(graph: Mapping[str, Iterable[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for dep in graph.get(node, ()):
            if state.get(dep) == 1:
                return [*stack[stack.index(dep) :], dep]
            if dep not in state:
                found = visit(dep)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for node in graph:
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None
