"""`devloop init`: look at a folder and write a commented devloop.yaml for it."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from devloop.config.detect import detect_language, has_dockerfile, is_app_folder
from devloop.config.loader import load_project
from devloop.core.spec import AppSpec, HealthCheckType
from devloop.errors import UsageError

SKIP_DIRS = {".git", "node_modules", "__pycache__", ".venv", "venv", "vendor", "dist", "build"}
DEFAULT_PORTS = {"python": 8080, "node": 8080, "go": 8080, "static": 8080}


@dataclass(frozen=True)
class FoundApp:
    name: str
    path: str  # relative to the config file, POSIX style
    how: str  # "Dockerfile" or a language name


class _KeepPlaceholders(Mapping[str, Any]):
    """Variables that render `((name))` as itself, so init keeps a manifest's placeholders."""

    def __getitem__(self, key: str) -> str:
        return f"(({key}))"

    def __contains__(self, key: object) -> bool:
        return True

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0


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


def init(folder: Path, force: bool = False) -> tuple[Path, list[FoundApp]]:
    folder = folder.resolve()
    if not folder.is_dir():
        raise UsageError(f"{folder} is not a folder")
    target = folder / "devloop.yaml"
    if target.exists() and not force:
        raise UsageError(f"{target} already exists", hint="pass --force to overwrite it")
    manifest = next((folder / n for n in ("manifest.yml", "manifest.yaml") if (folder / n).is_file()), None)
    if manifest is not None:
        project = load_project(manifest, _KeepPlaceholders())
        specs = list(project.apps)
        found = [FoundApp(a.name, _relative(a.source, folder), describe(a.source) or "") for a in specs]
        text = render(found, origin=manifest.name, specs=specs)
    else:
        found = find_apps(folder)
        if not found:
            raise UsageError(
                f"no app found in {folder}: no Dockerfile, requirements.txt, pyproject.toml,"
                " package.json, go.mod or index.html here or one folder down",
                hint="add a Dockerfile, or run init in the app's folder",
            )
        text = render(found)
    target.write_text(text, encoding="utf-8")
    return target, found


def _relative(path: Path, base: Path) -> str:
    try:
        rel = path.resolve().relative_to(base)
    except ValueError:
        return str(path)
    return rel.as_posix() or "."


@click.command("init")
@click.argument("path", type=click.Path(path_type=Path), default=".")
@click.option("--force", is_flag=True, help="Overwrite an existing devloop.yaml.")
def init_command(path: Path, force: bool) -> None:
    """Detect the apps in PATH and write a commented devloop.yaml."""
    target, found = init(path, force)
    for app in found:
        click.echo(f"found {app.name} in {app.path} ({app.how or 'prebuilt image'})")
    provider = "kind" if "\nprovider: kind\n" in target.read_text() else "docker"
    why = "" if provider == "kind" else ", as kind is not installed"
    click.echo(f"wrote {target} (provider: {provider}{why})")
