"""`devloop init`: look at a folder and write a commented devloop.yaml for it."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import click

from devloop.config.loader import load_project
from devloop.config.scaffold import FoundApp, describe, detected_apps, render
from devloop.errors import UsageError


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
        found = detected_apps(folder)
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
