"""What a config edit changed, so a saved devloop.yaml is applied field by field and the user is
told which fields took effect and which need `devloop up` to start again."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from devloop.core.spec import AppSpec, ProjectSpec

# Fields of the project that the running loop cannot change under itself.
RESTART_FIELDS = ("provider", "cluster", "context", "router_port")
# Fields whose change needs a new image, not just new instances.
BUILD_FIELDS = frozenset({"build", "image", "source"})


@dataclass(frozen=True)
class ConfigEdit:
    """One reload: the apps whose spec changed (with the fields), and what waits for a restart."""

    changed: tuple[tuple[AppSpec, tuple[str, ...]], ...]
    needs_restart: tuple[str, ...]  # e.g. "router_port", "app api added"


def changed_fields(old: AppSpec, new: AppSpec) -> tuple[str, ...]:
    """The names of the AppSpec fields that differ, in declaration order."""
    return tuple(
        f.name for f in dataclasses.fields(AppSpec) if getattr(old, f.name) != getattr(new, f.name)
    )


def diff_projects(old: ProjectSpec, new: ProjectSpec) -> ConfigEdit:
    """Compare the running project with the config as saved."""
    before = {app.name: app for app in old.apps}
    after = {app.name: app for app in new.apps}
    changed = []
    for app in new.apps:
        if app.name in before:
            fields = changed_fields(before[app.name], app)
            if fields:
                changed.append((app, fields))
    restart = [name for name in RESTART_FIELDS if getattr(old, name) != getattr(new, name)]
    if old.services != new.services:
        restart.append("services")
    restart += [f"app {name} added" for name in after if name not in before]
    restart += [f"app {name} removed" for name in before if name not in after]
    return ConfigEdit(tuple(changed), tuple(restart))


def describe_fields(fields: tuple[str, ...]) -> str:
    """`memory_mb`, `health` ... as a user wrote them: memory, health check."""
    words = {"memory_mb": "memory", "disk_mb": "disk", "secret_env": "env", "health": "health check",
             "sync_restart": "on_sync", "host_port": "host port", "no_route": "no-route"}  # fmt: skip
    return ", ".join(dict.fromkeys(words.get(f, f.replace("_", " ")) for f in fields))
