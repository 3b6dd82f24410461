"""A Cloud Foundry manifest.yml as devloop's AppSpec, with notices for what it cannot honour.

`cfcompat` first brings a real-world manifest (cf v6 attributes, globals,
`inherit:`) into the cf v7 shape `cfschema` validates; this module then maps
each app: routes (public, TCP, internal), health checks, the build (`cfbuild`),
services, and a DNS-safe name beside the one written.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from devloop.config import cfcompat, files
from devloop.config.cfbuild import cf_build
from devloop.config.cfcompat import NoticeBook, dns_route
from devloop.config.cfschema import CfApp, CfManifest, CfProcess, HealthType
from devloop.config.common import resolve_processes, resolve_sidecars, scalar_to_str, validate
from devloop.config.yamlpos import Positions, YamlPath
from devloop.core.processes import WEB
from devloop.core.services import ServiceSpec, known_types, type_for
from devloop.core.spec import (
    DEFAULT_HEALTH_TIMEOUT_S,
    AppSpec,
    BuildSpec,
    HealthCheck,
    HealthCheckType,
    Notice,
    ProcessSpec,
    ProjectSpec,
    dns_names,
    parse_memory_mb,
)
from devloop.errors import ConfigError

__all__ = ["CfManifest", "load", "to_project"]

INTERNAL_DOMAIN = "apps.internal"

# attribute -> what devloop does with it, as cf does (the config reference and README list these)
HONOURED = {
    "name": "the app's name; a DNS-safe form of it names containers, objects and hosts",
    "path": "the app folder (built with its Dockerfile or a generated one); a built .jar runs on a "
    "generated JRE image (JAVA_OPTS, JBP_CONFIG_OPEN_JDK_JRE version); a .war or .zip loads with a notice",
    "instances": "instances of the web process",
    "memory": "each instance's memory limit",
    "command": "the start command",
    "env": "environment variables",
    "routes": "local routes (host label and path kept; a route with a port gets that port on 127.0.0.1; "
    "`*.apps.internal` reached by the other apps by name on docker, by Service name on kind)",
    "no-route": "no route",
    "timeout": "how long an instance may take to become healthy",
    "health-check-type": "port, http or process (none means process)",
    "health-check-http-endpoint": "the http check's path",
    "health-check-invocation-timeout": "how long one check may take",
    "health-check-interval": "seconds between checks",
    "docker": "a prebuilt image (docker.image)",
    "processes": "process types, each with its own command, instances, memory and health check; "
    "one with `instances: 0` runs none (as in cf) and is a task template: "
    "`devloop task APP --name TYPE` runs it once, as `cf run-task --process TYPE`",
    "sidecars": "extra processes beside the app's",
    "services": "bound services (provisioned when their name says their type)",
    "version": "the manifest format version",
}
# attribute -> what devloop maps it to (one notice per attribute and file says so)
MAPPED = {
    "buildpacks": "decide the language of the generated Dockerfile when the folder has none",
    "buildpack": "as buildpacks (cf v6)",
    "random-route": "the app's stable local route",
    "default-route": "false and no routes: no route",
    "host": "routes: HOST.DOMAIN for every domain (cf v6)",
    "hosts": "routes: each host on every domain (cf v6)",
    "domain": "routes: every host on DOMAIN (cf v6)",
    "domains": "routes: every host on each domain (cf v6)",
    "no-hostname": "routes: the domains alone (cf v6)",
    "inherit": "the parent manifest merged in (cf v6)",
    "top-level attributes": "applied to every app, app values winning, env merged (cf v6)",
    "((vars))": "values from --vars-file and --var (YAML-typed, nested a.b.c)",
}
# attribute -> why devloop records it without acting on it (one notice per attribute and file)
NOT_HONOURED = {
    "stack": "the stack is the base image of cf's containers; devloop's image comes from the build",
    "lifecycle": "devloop builds an image (a Dockerfile or a generated one), whatever the cf lifecycle",
    "cnb-credentials": "devloop runs no Cloud Native Buildpacks",
    "log-rate-limit-per-second": "devloop does not limit log lines",
    "readiness-health-check-type": "an instance joins its routes when its health check passes; "
    "the separate readiness check is recorded, not run",
    "readiness-health-check-http-endpoint": "the separate readiness check is recorded, not run",
    "readiness-health-check-invocation-timeout": "the separate readiness check is recorded, not run",
    "readiness-health-check-interval": "the separate readiness check is recorded, not run",
    "metadata": "labels and annotations are cf API metadata; recorded",
    "features": "cf app features (ssh, revisions...) are cf API settings; `devloop ssh` always works",
    "disk_quota": "the kind provider and `export` set it as the ephemeral-storage limit; "
    "the docker provider does not limit disk",
}


def _not_honoured(key: str) -> str:
    if key == "disk_quota":  # honoured by one provider of two
        return f"disk_quota: {NOT_HONOURED[key]}"
    return f"{key} is not honoured locally: {NOT_HONOURED[key]}"


def load(
    data: dict[str, Any],
    positions: Positions,
    file: Path,
    variables: Mapping[str, Any] | None,
    *,
    lenient: bool = False,
) -> ProjectSpec:
    book = NoticeBook()
    shaped = cfcompat.normalise(data, positions, file, variables, book, lenient=lenient)
    base = files.resolve(file.parent)
    return to_project(validate(CfManifest, shaped, positions), base, file, positions, book)


def to_project(
    manifest: CfManifest, base: Path, file: Path, positions: Positions, book: NoticeBook | None = None
) -> ProjectSpec:
    book = book if book is not None else NoticeBook()
    notices: list[Notice] = []
    seen: dict[str, int] = {}
    for i, app in enumerate(manifest.applications):
        if app.name in seen:
            raise ConfigError(positions.at(("applications", i, "name")), f"duplicate app name {app.name!r}")
        seen[app.name] = i
    safe = dns_names([a.name for a in manifest.applications])
    apps: list[AppSpec] = []
    services: dict[str, ServiceSpec] = {}
    for i, (app, name) in enumerate(zip(manifest.applications, safe, strict=True)):
        at: YamlPath = ("applications", i)
        spec = _app(app, base, positions, at, book, notices)
        if name != app.name:
            spec = replace(spec, name=name, display_name=app.name)
            book.add(f"name:{app.name}", str(positions.at((*at, "name"))),
                     f"app {app.name!r} is called {name!r} in container, object and host names "
                     "(they allow lowercase letters, digits and '-' only)")  # fmt: skip
        bound = []
        for j, service in enumerate(spec.services):
            kind = type_for(service)
            if kind is None:
                book.add(
                    f"service:{service}", str(positions.at((*at, "services", j))),
                    f"service {service!r}: no type in its name ({known_types()}); not provisioned. "
                    "Name it after its type, or declare it in devloop.yaml: "
                    f"services: [{{name: {service}, type: ...}}]",
                )  # fmt: skip
                continue
            services.setdefault(service, ServiceSpec(service, kind))
            bound.append(service)
        apps.append(replace(spec, services=tuple(bound)))
    return ProjectSpec(
        file=file, apps=tuple(apps), notices=(*book.all(), *notices), services=tuple(services.values())
    )


def _health(
    kind: HealthType | None,
    endpoint: str | None,
    timeout: int | None,
    invocation: int | None,
    interval: int | None,
) -> HealthCheck:
    # cf's deprecated `none` means `process`; a cf app's default check is `port`.
    mapped = HealthCheckType.PROCESS if kind == "none" else HealthCheckType(kind or "port")
    return HealthCheck(
        type=mapped,
        endpoint=endpoint or "/",
        timeout_s=timeout or DEFAULT_HEALTH_TIMEOUT_S,
        invocation_timeout_s=invocation or 1,
        interval_s=interval or 2,
    )


def _routes(
    app: CfApp, positions: Positions, at: YamlPath, book: NoticeBook
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(public routes, internal routes), each host DNS-valid, one notice for what is not plain HTTP."""
    public: list[str] = []
    internal: list[str] = []
    for j, r in enumerate(app.routes or ()):
        where = str(positions.at((*at, "routes", j)))
        route = dns_route(r.route)
        if route != r.route:
            book.add(f"route:{r.route}", where,
                     f"route {r.route!r} is not a lowercase DNS name; devloop uses {route!r}")  # fmt: skip
        host = route.split("://", 1)[-1].split("/", 1)[0].split(":", 1)[0]
        if host == INTERNAL_DOMAIN or host.endswith("." + INTERNAL_DOMAIN):
            internal.append(route)
            book.add("route:internal", where,
                     f"internal route {route!r}: the project's other apps reach it by that name "
                     "on the docker provider (on kind, by its Service name); no public URL, "
                     "no Ingress")  # fmt: skip
            continue
        port = route.split("://", 1)[-1].split("/", 1)[0].partition(":")[2]
        if port or r.protocol == "tcp":
            book.add("route:tcp", where,
                     f"TCP route {route!r}: the app gets its own port {port or '(none given)'} on 127.0.0.1, "
                     "served through devloop's HTTP router (raw TCP is not proxied)")  # fmt: skip
        elif r.protocol or r.options:
            book.add("route:options", where,
                     "route protocol and options are ignored: local routes are plain HTTP/1.1")  # fmt: skip
        public.append(route)
    return tuple(public), tuple(internal)


def _app(
    app: CfApp, base: Path, positions: Positions, at: YamlPath, book: NoticeBook, notices: list[Notice]
) -> AppSpec:
    def notice(key: str, message: str, path: YamlPath | None = None) -> None:
        book.add(f"attr:{key}", str(positions.at(path or (*at, key), key=True)), message)

    image = app.docker.image if app.docker else None
    buildpacks = tuple(app.buildpacks or ([app.buildpack] if app.buildpack else []))
    planned = cf_build(base, app.path, buildpacks)
    source = planned.source
    build: BuildSpec | None = planned.build
    if image is not None:
        build = None
        source = files.resolve(base / (app.path or "."))
    elif planned.notice:
        where = positions.at((*at, "path") if app.path else (*at, "name"))
        notices.append(Notice(str(where), planned.notice))
    if app.docker and app.docker.username:
        notice("docker", "docker.username is ignored: devloop uses your local Docker login")
    if buildpacks and build is not None and build.missing is None:
        how = "the app's Dockerfile" if build.dockerfile else f"a generated {build.language} Dockerfile"
        notice("buildpacks" if app.buildpacks else "buildpack",
               f"buildpacks ({', '.join(buildpacks)}) are not run: devloop builds with {how}")  # fmt: skip
    values = {
        "stack": app.stack, "lifecycle": app.lifecycle, "cnb-credentials": app.cnb_credentials,
        "log-rate-limit-per-second": app.log_rate_limit_per_second, "metadata": app.metadata,
        "features": app.features, "disk_quota": app.disk_quota,
        "readiness-health-check-type": app.readiness_health_check_type,
        "readiness-health-check-http-endpoint": app.readiness_health_check_http_endpoint,
        "readiness-health-check-invocation-timeout": app.readiness_health_check_invocation_timeout,
        "readiness-health-check-interval": app.readiness_health_check_interval,
    }  # fmt: skip
    for key, value in values.items():
        if value is not None:
            notice(key, _not_honoured(key))
    for k, process in enumerate(app.processes or ()):
        if process.instances == 0 and process.type != WEB:
            book.add(f"task:{app.name}/{process.type}", str(positions.at((*at, "processes", k, "instances"))),
                     f"process type {process.type!r} has instances: 0: it runs no instances, as in cf; "
                     f"`devloop task {app.name} --name {process.type}` runs it once as a task "
                     "(cf run-task --process)")  # fmt: skip
        for key in NOT_HONOURED:
            if getattr(process, key.replace("-", "_"), None) is not None:
                notice(key, _not_honoured(key), (*at, "processes", k, key))
    if app.random_route:
        notice("random-route", "random-route: devloop gives the app a stable local route instead")
    if app.no_route and app.routes:
        raise ConfigError(positions.at((*at, "no-route"), key=True), "no-route and routes cannot both be set")
    if app.health_check_type in ("process", "none") and app.health_check_http_endpoint:
        raise ConfigError(
            positions.at((*at, "health-check-http-endpoint"), key=True),
            "health-check-http-endpoint needs health-check-type: http",
        )
    routes, internal = _routes(app, positions, at, book)
    env = tuple((k, scalar_to_str(v)) for k, v in (app.env or {}).items())
    spec = AppSpec(
        name=app.name,
        source=source,
        build=build,
        image=image,
        instances=app.instances if app.instances is not None else 1,
        memory_mb=parse_memory_mb(app.memory) if app.memory is not None else None,
        disk_mb=parse_memory_mb(app.disk_quota) if app.disk_quota is not None else None,
        command=app.command,
        env=env,
        routes=routes,
        internal_routes=internal,
        no_route=bool(app.no_route) or (not routes and (app.default_route is False or bool(internal))),
        random_route=bool(app.random_route),
        health=_health(
            app.health_check_type,
            app.health_check_http_endpoint,
            app.timeout,
            app.health_check_invocation_timeout,
            app.health_check_interval,
        ),
        services=tuple(dict.fromkeys(s if isinstance(s, str) else s.name for s in app.services or ())),
        buildpacks=buildpacks,
        processes=tuple(_process(p) for p in app.processes or ()),
        sidecars=resolve_sidecars(app.sidecars or ()),
    )
    web = next((p for p in app.processes or () if p.type == WEB), None)
    given: frozenset[str] = frozenset()
    if web is not None:
        health = (web.health_check_type, web.health_check_http_endpoint, web.timeout,
                  web.health_check_invocation_timeout, web.health_check_interval)  # fmt: skip
        values2 = {"command": web.command, "instances": web.instances, "memory_mb": web.memory,
                   "health": True if any(v is not None for v in health) else None}  # fmt: skip
        given = frozenset(field for field, value in values2.items() if value is not None)
    return resolve_processes(spec, given, positions, at, notices)


def _process(p: CfProcess) -> ProcessSpec:
    return ProcessSpec(
        type=p.type,
        command=p.command,
        instances=p.instances if p.instances is not None else 1,
        memory_mb=parse_memory_mb(p.memory) if p.memory is not None else None,
        health=_health(
            p.health_check_type or ("port" if p.type == WEB else "process"),  # cf's defaults per type
            p.health_check_http_endpoint,
            p.timeout,
            p.health_check_invocation_timeout,
            p.health_check_interval,
        ),
    )
