"""An app's process types (cf `processes`) and sidecars, as the providers run them. Pure.

In Cloud Foundry one droplet runs as several process types: `web` takes the
routes, the others (`worker`, `clock`, ...) run their own command with their own
instances, memory and health check. Here the app's top-level settings are the
`web` process (a `processes:` entry of type web is folded into them when the
config is read), and each other entry becomes a view of the app with its values,
so a provider runs it with the very code that runs `web`, minus the route.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import replace

from devloop.core.events import InstanceStatus
from devloop.core.spec import AppSpec, HealthCheck, HealthCheckType, SidecarSpec

WEB = "web"
_TYPE_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def process_types(app: AppSpec) -> tuple[str, ...]:
    """`web` first, then the app's other process types in config order."""
    return (WEB, *(p.type for p in app.processes if p.type != WEB))


def process_view(app: AppSpec, process: str) -> AppSpec:
    """The app as its process `process` runs: that process's command, instances, memory and health.

    Only `web` is routed; the others keep the app's env, bindings and image.
    """
    if process == WEB:
        return app
    for spec in app.processes:
        if spec.type == process:
            return replace(
                app,
                command=spec.command,
                instances=spec.instances,
                memory_mb=spec.memory_mb or app.memory_mb,
                health=spec.health,
                routes=(),
                host_port=None,
                no_route=True,
            )
    raise KeyError(process)


def process_name(app: str, process: str) -> str:
    """`web` for the web process, `web-worker` for another: its Deployment and network alias."""
    return app if process == WEB else f"{app}-{process}"


def sidecars_of(app: AppSpec, process: str) -> tuple[SidecarSpec, ...]:
    """The sidecars that run beside each instance of `process`."""
    return tuple(s for s in app.sidecars if process in s.process_types)


def main_memory_mb(memory_mb: int | None, sidecars: tuple[SidecarSpec, ...]) -> int | None:
    """The process's own container's share of its memory: in cf a process's memory holds its
    sidecars' too, so theirs (where set) is taken out of it. None: no limit was set."""
    if memory_mb is None:
        return None
    return memory_mb - sum(s.memory_mb or 0 for s in sidecars)


def default_health(process: str, given: HealthCheck | None) -> HealthCheck:
    """cf's defaults: `web` is checked on its port; every other process type by staying up."""
    if given is not None:
        return given
    return HealthCheck() if process == WEB else HealthCheck(HealthCheckType.PROCESS)


def fold_web(app: AppSpec, given: frozenset[str]) -> AppSpec:
    """A `processes:` entry of type web overrides the app's own values for the fields it sets
    (`command`, `instances`, `memory_mb`, `health`), as in cf; it is then no longer listed."""
    web = next((p for p in app.processes if p.type == WEB), None)
    if web is None:
        return app
    fields = given & {"command", "instances", "memory_mb", "health"}
    changes: dict[str, object] = {f: getattr(web, f) for f in fields}
    rest = tuple(p for p in app.processes if p.type != WEB)
    return replace(app, processes=rest, **changes)  # type: ignore[arg-type]


def problems(app: AppSpec) -> list[tuple[tuple[str | int, ...], str]]:
    """What is wrong with the app's processes and sidecars, each with the config path it is at
    (relative to the app: ("processes", 1, "type"))."""
    found: list[tuple[tuple[str | int, ...], str]] = []
    seen: set[str] = set()
    for i, process in enumerate(app.processes):
        if not _TYPE_RE.match(process.type) or len(process.type) > 40:
            found.append((("processes", i, "type"), f"invalid process type {process.type!r}: use lowercase "
                           "letters, digits and '-' (it names containers and Deployments)"))  # fmt: skip
        elif process.type in seen:
            found.append((("processes", i, "type"), f"duplicate process type {process.type!r}"))
        seen.add(process.type)
    types = list(process_types(app))
    names: set[str] = set()
    for i, sidecar in enumerate(app.sidecars):
        if not _TYPE_RE.match(sidecar.name) or len(sidecar.name) > 40:
            found.append((("sidecars", i, "name"), f"invalid sidecar name {sidecar.name!r}: use lowercase "
                           "letters, digits and '-' (it names a container)"))  # fmt: skip
        elif sidecar.name in names or sidecar.name in types or sidecar.name == app.name:
            found.append((("sidecars", i, "name"), f"sidecar name {sidecar.name!r} is already taken by "
                           "another sidecar, a process type or the app"))  # fmt: skip
        names.add(sidecar.name)
        for j, wanted in enumerate(sidecar.process_types):
            if wanted not in types:
                close = difflib.get_close_matches(wanted, types, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                found.append((("sidecars", i, "process_types", j), f"sidecar {sidecar.name!r} names process "
                               f"type {wanted!r}, which {app.name!r} does not have{hint}; it has: "
                               f"{', '.join(types)}"))  # fmt: skip
    for i, sidecar in enumerate(app.sidecars):
        for wanted in sidecar.process_types:
            if wanted not in types or sidecar.memory_mb is None:
                continue
            memory = process_view(app, wanted).memory_mb
            left = main_memory_mb(memory, sidecars_of(app, wanted))
            if memory is not None and left is not None and left <= 0:
                found.append((("sidecars", i, "memory"), f"the sidecars of process {wanted!r} ask for "
                               f"{memory - left}M, but the process has {memory}M in all: as in cf, "
                               "a process's memory holds its sidecars' (raise the process's "
                               "memory)"))  # fmt: skip
                break
    return found


def procfile_command(text: str, process: str) -> str | None:
    """The command of `process` in a Procfile (`worker: python worker.py`), as buildpacks read it."""
    for line in text.splitlines():
        match = re.match(rf"^\s*{re.escape(process)}\s*:\s*(.+?)\s*$", line)
        if match:
            return match.group(1)
    return None


def process_summary(app: AppSpec, instances: tuple[InstanceStatus, ...]) -> dict[str, dict[str, object]]:
    """Each non-web process type's running and desired instances, as `cf app` lists them."""
    summary: dict[str, dict[str, object]] = {}
    for process in process_types(app)[1:]:
        view = process_view(app, process)
        mine = [i for i in instances if i.process == process and not i.sidecar]
        running = sum(1 for i in mine if i.state == "running")
        crashed = any(i.state == "crashed" for i in mine)
        state = "running" if running else "crashed" if crashed else "stopped" if not mine else mine[0].state
        summary[process] = {
            "running": running,
            "desired": view.instances,
            "state": state,
            "memory": f"{view.memory_mb}M" if view.memory_mb else None,
        }
    return summary


def scaled(app: AppSpec, process: str, instances: int, memory_mb: int | None) -> AppSpec:
    """The app with `process` at `instances` (and `memory_mb`, when given), as `cf scale --process`."""
    if process == WEB:
        return replace(app, instances=instances, memory_mb=memory_mb or app.memory_mb)
    processes = tuple(
        replace(p, instances=instances, memory_mb=memory_mb or p.memory_mb) if p.type == process else p
        for p in app.processes
    )
    return replace(app, processes=processes)


Scale = tuple[str, int | None, int | None]  # (process, instances, memory_mb) set by `devloop scale`


def record_scale(
    scales: tuple[Scale, ...], process: str, instances: int, memory_mb: int | None
) -> tuple[Scale, ...]:
    """The session's scale overrides with this `devloop scale` folded in (memory kept if not given)."""
    previous = next((s for s in scales if s[0] == process), None)
    memory = memory_mb if memory_mb is not None else (previous[2] if previous else None)
    return (*(s for s in scales if s[0] != process), (process, instances, memory))


def rescale(
    old_config: AppSpec, new_config: AppSpec, scales: tuple[Scale, ...]
) -> tuple[AppSpec, tuple[Scale, ...]]:
    """The edited config's spec with the session's scale overrides still applied, as `cf scale`
    sticks; a value the edit itself changed wins over the override (the user said it last)."""
    kept: list[Scale] = []
    spec = new_config
    for process, instances, memory in scales:
        if process not in process_types(new_config):
            continue
        before, after = process_view(old_config, process), process_view(new_config, process)
        instances = instances if before.instances == after.instances else None
        memory = memory if before.memory_mb == after.memory_mb else None
        if instances is None and memory is None:
            continue
        kept.append((process, instances, memory))
        count = instances if instances is not None else process_view(spec, process).instances
        spec = scaled(spec, process, count, memory)
    return spec, tuple(kept)
