"""Helpers both config formats share: validation, folders, builds, env values."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any, Protocol, TypeVar

from pydantic import BaseModel, ValidationError

from devloop.config import files
from devloop.config.detect import detect_language
from devloop.config.errors_map import to_config_error
from devloop.config.yamlpos import Positions, YamlPath
from devloop.core.processes import WEB, fold_web, problems, procfile_command
from devloop.core.spec import AppSpec, BuildSpec, Language, Notice, SidecarSpec, parse_memory_mb
from devloop.errors import ConfigError

M = TypeVar("M", bound=BaseModel)


def validate(model: type[M], data: Any, positions: Positions) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise to_config_error(exc, positions, model) from None


def resolve_dir(base: Path, value: str, positions: Positions, path: YamlPath) -> Path:
    folder = files.resolve(base / value)
    if not files.exists(folder):
        raise ConfigError(positions.at(path), f"path {value!r} does not exist (looked for {folder})")
    if not files.is_dir(folder):
        raise ConfigError(
            positions.at(path),
            f"path {value!r} is a file; devloop builds from a folder",
            hint="point 'path' at the app's source folder",
        )
    return folder


def resolve_build(
    source: Path,
    dockerfile: str | None,
    language: str | None,
    target: str | None,
    args: Mapping[str, Any],
    positions: Positions,
    at: YamlPath,
) -> BuildSpec:
    """A Dockerfile if there is one, else a generated build for the detected language."""
    if dockerfile is not None:
        file = files.resolve(source / dockerfile)
        if not files.is_file(file):
            raise ConfigError(
                positions.at((*at, "dockerfile")),
                f"Dockerfile {dockerfile!r} does not exist (looked for {file})",
            )
        return BuildSpec(source, file, None, target, str_pairs(args))
    if language is not None:
        return BuildSpec(source, None, Language(language), target, str_pairs(args))
    if files.is_file(source / "Dockerfile"):
        return BuildSpec(source, source / "Dockerfile", None, target, str_pairs(args))
    detected = detect_language(source)
    if detected is None:
        raise ConfigError(
            positions.at((*at, "name")),
            f"app folder {source} has no Dockerfile and no recognised language "
            "(requirements.txt, pyproject.toml, package.json, go.mod or index.html)",
            hint="add a Dockerfile, set 'language:', or use a prebuilt 'image:'",
        )
    return BuildSpec(source, None, detected, target, str_pairs(args))


def str_pairs(mapping: Mapping[str, Any] | None) -> tuple[tuple[str, str], ...]:
    return tuple((k, scalar_to_str(v)) for k, v in (mapping or {}).items())


def scalar_to_str(value: Any) -> str:
    """Env values as Cloud Foundry passes them: booleans lowercase, None empty."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def resolve_processes(
    app: AppSpec,
    given_web: frozenset[str],
    positions: Positions,
    at: YamlPath,
    notices: list[Notice] | None = None,
) -> AppSpec:
    """The app with a `web` process entry folded in, each other process's command (its own, or the
    Procfile's entry of its type), and its processes and sidecars checked. With `notices`, a process
    without a command is noticed instead of refused (cf takes it from a Procfile found at staging)."""
    for path, message in problems(app):
        raise ConfigError(positions.at((*at, *path)), message)
    procfile = app.source / "Procfile"
    text = files.read_text(procfile, errors="replace") if files.is_file(procfile) else ""
    processes = []
    for index, process in enumerate(app.processes):
        command = process.command or procfile_command(text, process.type)
        if command is None and app.image is None and process.type != WEB:
            if notices is not None:
                notices.append(Notice(
                    str(positions.at((*at, "processes", index))),
                    f"process type {process.type!r} has no command here and no `{process.type}:` line in "
                    f"{procfile}; `devloop up` needs one of them",
                ))  # fmt: skip
                processes.append(process)
                continue
            raise ConfigError(
                positions.at((*at, "processes", index)),
                f"process type {process.type!r} has no command",
                hint=f"set its `command:`, or add a line `{process.type}: COMMAND` to {procfile}",
            )
        processes.append(replace(process, command=command))
    return fold_web(replace(app, processes=tuple(processes)), given_web)


class SidecarFields(Protocol):
    """What a devloop.yaml sidecar and a cf manifest sidecar both say."""

    @property
    def name(self) -> str: ...
    @property
    def command(self) -> str: ...
    @property
    def process_types(self) -> list[str]: ...
    @property
    def memory(self) -> int | str | None: ...


def resolve_sidecars(sidecars: Iterable[SidecarFields]) -> tuple[SidecarSpec, ...]:
    """Sidecars as the model holds them, the same from either file format."""
    return tuple(
        SidecarSpec(
            name=s.name,
            command=s.command,
            process_types=tuple(s.process_types),
            memory_mb=parse_memory_mb(s.memory) if s.memory is not None else None,
        )
        for s in sidecars
    )
