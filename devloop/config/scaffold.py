"""The devloop.yaml devloop would write for a folder: its apps as detected, with comments.

`devloop init` saves it; `devloop up` in a folder with no config runs it as it is, as `cf push`
works in any folder.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from devloop.config.detect import detect_language, has_dockerfile, is_app_folder
from devloop.core.spec import AppSpec, HealthCheckType
from devloop.errors import UsageError

SKIP_DIRS = {".git", "node_modules", "__pycache__", ".venv", "venv", "vendor", "dist", "build"}
DEFAULT_PORTS = {"python": 8080, "node": 8080, "go": 8080, "static": 8080}


@dataclass(frozen=True)
class FoundApp:
    name: str
    path: str  # relative to the config file, POSIX style
    how: str  # "Dockerfile" or a language name


def app_name(folder: Path) -> str:
    name = re.sub(r"[^a-z0-9-]+", "-", folder.name.lower()).strip("-")[:50].strip("-")
    return name or "app"


def describe(folder: Path) -> str | None:
    if has_dockerfile(folder):
        return "Dockerfile"
    language = detect_language(folder)
    return language.value if language else None


def find_apps(root: Path) -> list[FoundApp]:
    """The folder itself if it is an app, else each app folder one level down."""
    how = describe(root)
    if how is not None:
        return [FoundApp(app_name(root.resolve()), ".", how)]
    found: list[FoundApp] = []
    for child in sorted(p for p in root.iterdir() if p.is_dir() and p.name not in SKIP_DIRS):
        if is_app_folder(child):
            found.append(FoundApp(app_name(child), child.name, describe(child) or ""))
    return found


def _quote(value: str) -> str:
    return value if re.fullmatch(r"[A-Za-z0-9_./:-]+", value) and not value[0].isdigit() else repr(value)


def provider_lines(kind_installed: bool) -> list[str]:
    """`provider:` as this machine can run it: kind when it is installed, else docker, said why."""
    if kind_installed:
        return [
            "# Where apps run: kind (a local Kubernetes cluster, the default) or docker (plain containers).",
            "provider: kind",
        ]
    return [
        "# Where apps run: docker (plain containers), since kind is not installed on this machine.",
        "# With kind installed (https://kind.sigs.k8s.io), `provider: kind` runs them on a local Kubernetes.",
        "provider: docker",
    ]


def render(
    apps: list[FoundApp],
    origin: str | None = None,
    specs: list[AppSpec] | None = None,
    kind_installed: bool | None = None,
) -> str:
    if kind_installed is None:
        kind_installed = shutil.which("kind") is not None
    lines = [
        "# devloop.yaml, written by `devloop init`. Check it with `devloop validate`.",
        *([f"# Converted from {origin}; that file is left as it was."] if origin else []),
        "version: 1",
        *provider_lines(kind_installed),
        "apps:",
    ]
    for i, found in enumerate(apps):
        spec = specs[i] if specs else None
        lines += [
            f"  - name: {found.name}",
            "    # Source folder, relative to this file.",
            f"    path: {found.path}",
        ]
        if spec is not None and spec.image:
            lines += ["    # A prebuilt image: nothing is built.", f"    image: {_quote(spec.image)}"]
        elif found.how == "Dockerfile":
            lines.append("    # Built from the Dockerfile in that folder.")
        elif found.how:
            lines.append(
                f"    # No Dockerfile: devloop generates one for {found.how}"
                " (see `devloop build --print-dockerfile`)."
            )
        lines += [f"    instances: {spec.instances if spec else 1}"]
        lines += [f"    memory: {spec.memory_mb if spec and spec.memory_mb else 256}M"]
        if spec and spec.command:
            lines.append(f"    command: {_quote(spec.command)}")
        lines += [
            "    # The port the app listens on; devloop also passes it as $PORT.",
            f"    port: {spec.port if spec else DEFAULT_PORTS.get(found.how, 8080)}",
        ]
        if spec and spec.env:
            lines.append("    env:")
            lines += [f"      {k}: {_quote(v)}" for k, v in spec.env]
        if spec and spec.routes:
            lines.append("    routes:")
            lines += [f"      - {_quote(r)}" for r in spec.routes]
        if spec and spec.no_route:
            lines.append("    no_route: true")
        if spec and spec.health.type is not HealthCheckType.PORT:
            lines.append(
                f"    health_check: {{type: {spec.health.type.value}, endpoint: {spec.health.endpoint}}}"
            )
        else:
            lines.append("    # health_check: {type: http, endpoint: /health}")
        if spec and spec.depends_on:
            lines.append(f"    depends_on: [{', '.join(spec.depends_on)}]")
        lines += [
            "    # Copy changed files into running containers instead of rebuilding:",
            "    # sync:",
            '    #   - src: "**/*.py"',
            "    #     dest: /app",
            "    # on_sync: {signal: HUP}",
        ]
    return "\n".join(lines) + "\n"


def detected_apps(folder: Path) -> list[FoundApp]:
    """The apps `find_apps` sees in `folder`; one clear refusal with the fix when there are none."""
    found = find_apps(folder)
    if not found:
        raise UsageError(
            f"no app found in {folder}: no Dockerfile, requirements.txt, pyproject.toml,"
            " package.json, go.mod or index.html here or one folder down",
            hint="add a Dockerfile, or run devloop in the app's folder",
        )
    return found


def summary(found: list[FoundApp]) -> str:
    """One line naming what was detected: `web (python) in .`, `api (Dockerfile) in api`."""
    return ", ".join(f"{app.name} ({app.how}) in {app.path}" for app in found)
