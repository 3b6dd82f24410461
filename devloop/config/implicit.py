"""A project for a folder with no devloop.yaml or manifest.yml: detected as `devloop init` would.

`cf push` works in any app folder; so does `devloop up`. The apps are found and configured
exactly as `devloop init` would write them, and run without writing anything; the config file
they would live in is watched, so a later `devloop init` (or a hand-written file) takes over.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from devloop.config.files import CONFIG_NAMES
from devloop.config.scaffold import detected_apps, render, summary
from devloop.core.spec import ProjectSpec


@dataclass(frozen=True)
class Detected:
    project: ProjectSpec
    notice: str  # one line for the user: what was found, and how to keep it


def has_config(folder: Path) -> bool:
    return any((folder / name).is_file() for name in CONFIG_NAMES)


def detect_project(folder: Path, provider_override: str | None = None) -> Detected:
    """The project `devloop init` would write for `folder`, not written. UsageError when no app."""
    from devloop.config.loader import load_project_text  # YAML and pydantic: not for has_config

    folder = folder.resolve()
    found = detected_apps(folder)
    path = folder / CONFIG_NAMES[0]
    project = load_project_text(render(found), path, {}, provider_override)
    notice = f"no devloop.yaml here: running {summary(found)} as detected; `devloop init` saves it"
    return Detected(project, notice)
