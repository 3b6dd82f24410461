"""A Cloud Foundry manifest.yml as devloop's AppSpec, with notices for what it cannot honour."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from devloop.config.cfschema import CfApp, CfManifest, CfProcess, HealthType
from devloop.config.common import resolve_build, resolve_dir, resolve_processes, scalar_to_str
from devloop.config.yamlpos import Positions, YamlPath
from devloop.core.processes import WEB
from devloop.core.services import ServiceSpec, known_types, type_for
from devloop.core.spec import (
    DEFAULT_HEALTH_TIMEOUT_S,
    AppSpec,
    HealthCheck,
    HealthCheckType,
    Notice,
    ProcessSpec,
    ProjectSpec,
    SidecarSpec,
    parse_memory_mb,
)
from devloop.errors import ConfigError

__all__ = ["CfManifest", "to_project"]


def to_project(manifest: CfManifest, base: Path, file: Path, positions: Positions) -> ProjectSpec:
    notices: list[Notice] = []
    apps: list[AppSpec] = []
    services: dict[str, ServiceSpec] = {}
    for i, app in enumerate(manifest.applications):
        at: YamlPath = ("applications", i)
        spec = _app(app, base, positions, at, notices)
        bound = []
        for j, name in enumerate(spec.services):
            kind = type_for(name)
            if kind is None:
                notices.append(Notice(
                    str(positions.at((*at, "services", j))),
                    f"service {name!r}: no type in its name ({known_types()}); not provisioned. "
                    "Name it after its type, or declare it in devloop.yaml: "
                    f"services: [{{name: {name}, type: ...}}]",
                ))  # fmt: skip
                continue
            services.setdefault(name, ServiceSpec(name, kind))
            bound.append(name)
        apps.append(replace(spec, services=tuple(bound)))
    return ProjectSpec(file=file, apps=tuple(apps), notices=tuple(notices), services=tuple(services.values()))


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


def _app(app: CfApp, base: Path, positions: Positions, at: YamlPath, notices: list[Notice]) -> AppSpec:
    def notice(key: str, message: str) -> None:
        notices.append(Notice(str(positions.at((*at, key), key=True)), message))

    source = resolve_dir(base, app.path or ".", positions, (*at, "path"))
    image = app.docker.image if app.docker else None
    build = None
    if image is None:
        build = resolve_build(source, None, None, None, {}, positions, at)
    if app.docker and app.docker.username:
        notice("docker", "docker.username is ignored: devloop uses your local Docker login")
    if app.buildpacks or app.buildpack:
        names = ", ".join(app.buildpacks or [app.buildpack or ""])
        how = (
            "the app's Dockerfile"
            if build and build.dockerfile
            else f"a generated {build.language} Dockerfile"
            if build
            else "the docker image"
        )
        notice(
            "buildpacks" if app.buildpacks else "buildpack",
            f"buildpacks ({names}) are recorded, not run: devloop builds with {how}",
        )
    for key, value in (
        ("stack", app.stack),
        ("lifecycle", app.lifecycle),
        ("cnb-credentials", app.cnb_credentials),
        ("log-rate-limit-per-second", app.log_rate_limit_per_second),
        ("readiness-health-check-type", app.readiness_health_check_type),
        ("metadata", app.metadata),
    ):
        if value is not None:
            notice(key, f"{key} is not honoured locally and is ignored")
    if app.random_route:
        notice("random-route", "random-route: devloop gives the app a stable local route instead")
    routes: tuple[str, ...] = ()
    if app.routes:
        routes = tuple(r.route for r in app.routes)
        for j, r in enumerate(app.routes):
            if r.protocol or r.options:
                notices.append(
                    Notice(
                        str(positions.at((*at, "routes", j))),
                        "route protocol and options are ignored: local routes are plain HTTP/1.1",
                    )
                )
    if app.no_route and app.routes:
        raise ConfigError(positions.at((*at, "no-route"), key=True), "no-route and routes cannot both be set")
    if app.health_check_type in ("process", "none") and app.health_check_http_endpoint:
        raise ConfigError(
            positions.at((*at, "health-check-http-endpoint"), key=True),
            "health-check-http-endpoint needs health-check-type: http",
        )
    env = tuple((k, scalar_to_str(v)) for k, v in (app.env or {}).items())
    processes = tuple(_process(p) for p in app.processes or ())
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
        no_route=bool(app.no_route) or (app.default_route is False and not routes),
        random_route=bool(app.random_route),
        health=_health(
            app.health_check_type,
            app.health_check_http_endpoint,
            app.timeout,
            app.health_check_invocation_timeout,
            app.health_check_interval,
        ),
        services=tuple(s if isinstance(s, str) else s.name for s in app.services or ()),
        buildpacks=tuple(app.buildpacks or ([app.buildpack] if app.buildpack else [])),
        processes=processes,
        sidecars=tuple(
            SidecarSpec(
                name=s.name,
                command=s.command,
                process_types=tuple(s.process_types),
                memory_mb=parse_memory_mb(s.memory) if s.memory is not None else None,
            )
            for s in app.sidecars or ()
        ),
    )
    web = next((p for p in app.processes or () if p.type == WEB), None)
    given: frozenset[str] = frozenset()
    if web is not None:
        health = (web.health_check_type, web.health_check_http_endpoint, web.timeout,
                  web.health_check_invocation_timeout, web.health_check_interval)  # fmt: skip
        values = {"command": web.command, "instances": web.instances, "memory_mb": web.memory,
                  "health": True if any(v is not None for v in health) else None}  # fmt: skip
        given = frozenset(field for field, value in values.items() if value is not None)
    return resolve_processes(spec, given, positions, at)


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
