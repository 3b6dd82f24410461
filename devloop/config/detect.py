"""What an app folder contains: a Dockerfile, or the language a generated one needs.

Like Cloud Foundry's buildpack detection, each language is recognised by the
file its tooling requires; the first match wins, in the order below.
"""

from __future__ import annotations

from pathlib import Path

from devloop.config import files
from devloop.core.spec import Language

LANGUAGE_MARKERS: tuple[tuple[Language, tuple[str, ...]], ...] = (
    (Language.GO, ("go.mod",)),
    (Language.NODE, ("package.json",)),
    (Language.PYTHON, ("requirements.txt", "pyproject.toml", "Pipfile", "setup.py")),
    (Language.STATIC, ("index.html",)),
)


def detect_language(folder: Path) -> Language | None:
    for language, markers in LANGUAGE_MARKERS:
        if any(files.is_file(folder / marker) for marker in markers):
            return language
    return None


def has_dockerfile(folder: Path) -> bool:
    return files.is_file(folder / "Dockerfile")


def is_app_folder(folder: Path) -> bool:
    return has_dockerfile(folder) or detect_language(folder) is not None
