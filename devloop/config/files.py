"""Every look the config loader takes at the file system, in one place: a read, an is_file, is_dir or
exists, a resolve. While `observing()`, each is kept with what it found, so a kept config
(`devloop.config.cache`) is used only while every look would find the same again.

Light on purpose (no YAML, no pydantic): finding the config file is here too.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path

from devloop.errors import UsageError

CONFIG_NAMES = ("devloop.yaml", "devloop.yml", "manifest.yml", "manifest.yaml")

Observation = tuple[str, str, str]  # (the look, the absolute path, what it found)
_seen: ContextVar[list[Observation] | None] = ContextVar("devloop_config_seen", default=None)


def _note(look: str, path: Path, found: str) -> None:
    seen = _seen.get()
    if seen is not None:
        seen.append((look, os.path.abspath(path), found))


@contextmanager
def observing() -> Iterator[list[Observation]]:
    """The looks taken inside the block, in order."""
    seen: list[Observation] = []
    token = _seen.set(seen)
    try:
        yield seen
    finally:
        _seen.reset(token)


def _read(path: Path) -> tuple[bytes | None, str]:
    try:
        data = path.read_bytes()
    except OSError as exc:
        return None, f"!{type(exc).__name__}"
    return data, hashlib.sha256(data).hexdigest()


def read_text(path: Path, errors: str = "strict") -> str:
    """The file as UTF-8 text with universal newlines, as `Path.read_text` gives it."""
    data, found = _read(path)
    _note("read", path, found)
    if data is None:
        return path.read_text(encoding="utf-8", errors=errors)  # the same error, raised here
    return data.decode("utf-8", errors).replace("\r\n", "\n").replace("\r", "\n")


def is_file(path: Path) -> bool:
    found = path.is_file()
    _note("is_file", path, str(found))
    return found


def is_dir(path: Path) -> bool:
    found = path.is_dir()
    _note("is_dir", path, str(found))
    return found


def exists(path: Path) -> bool:
    found = path.exists()
    _note("exists", path, str(found))
    return found


def resolve(path: Path) -> Path:
    """The path with symlinks followed, absolute."""
    found = path.resolve()
    _note("resolve", path, str(found))
    return found


def still_holds(observation: Observation) -> bool:
    """Whether the look would find the same now."""
    look, where, found = observation
    path = Path(where)
    if look == "read":
        return _read(path)[1] == found
    if look == "resolve":
        return str(path.resolve()) == found
    checks = {"is_file": path.is_file, "is_dir": path.is_dir, "exists": path.exists}
    return look in checks and str(checks[look]()) == found


def find_config(explicit: Path | None, cwd: Path) -> Path:
    """`-f PATH` if given, else devloop.yaml, else manifest.yml in `cwd` (as `cf push`)."""
    if explicit is not None:
        path = explicit if explicit.is_absolute() else cwd / explicit
        if path.is_dir():
            return find_config(None, path)
        if not path.is_file():
            raise UsageError(f"config file {explicit} does not exist")
        return path
    for name in CONFIG_NAMES:
        if (cwd / name).is_file():
            return cwd / name
    raise UsageError(
        f"no devloop.yaml or manifest.yml in {cwd}",
        hint="run `devloop init` to write one, or pass -f PATH",
    )
