"""The loaded config, kept between commands: in an unchanged project `devloop status`, `logs`,
`build` and `validate` skip YAML and pydantic (~110 ms of each).

An entry holds the ProjectSpec and every look its load took at the file system (`files`): each
file read (its bytes' hash), each is_file, is_dir and exists, each symlink followed. It is used only
when every look finds the same again, for the same inputs (the config file's path, the vars files
and --var pairs, --provider, lenient or not, the folder it ran in) and the same devloop code and
parsing libraries; otherwise the config is loaded again (and kept again). A load that fails keeps
nothing. No entry is written for a project with an env_file: its values are secrets, which no file
devloop writes may hold. DEVLOOP_CONFIG_CACHE=0 turns the cache off.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import os
import pickle
import stat
import sys
from collections.abc import Callable, Iterable
from pathlib import Path

from devloop.config import files
from devloop.core.spec import ProjectSpec
from devloop.fs import write_private

FORMAT = 1
MAX_ENTRIES = 200  # the least recently used go beyond this many (one per project and inputs)
_CODE = Path(__file__).resolve().parents[1]  # the devloop package
_LIBRARIES = ("yaml", "pydantic", "pydantic_core")


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "devloop" / "config"


def _stamp(path: Path) -> list[object]:
    try:
        info = path.stat()
    except OSError:
        return [str(path), None]
    return [str(path), info.st_size, info.st_mtime_ns]


def code_stamp() -> list[object]:
    """What the loader's answer depends on besides the files: devloop's config and core code, and
    the YAML and pydantic releases (found, not imported)."""
    modules = sorted([*(_CODE / "config").glob("*.py"), *(_CODE / "core").glob("*.py"), _CODE / "errors.py"])
    stamps: list[object] = [FORMAT, sys.version, *(_stamp(m) for m in modules)]
    for name in _LIBRARIES:
        spec = importlib.util.find_spec(name)
        stamps.append(_stamp(Path(spec.origin)) if spec is not None and spec.origin else [name, None])
    return stamps


def entry_for(path: Path, vars_files: Iterable[Path], var_pairs: Iterable[str], provider: str | None,
              lenient: bool) -> Path:  # fmt: skip
    given = [str(path), [str(v) for v in vars_files], list(var_pairs), provider, lenient]
    inputs = [code_stamp(), os.getcwd(), given]
    key = hashlib.sha256(json.dumps(inputs).encode()).hexdigest()[:32]
    return cache_dir() / f"{key}.pickle"


def _kept(entry: Path) -> ProjectSpec | None:
    """The entry's project while every look it took finds the same; None otherwise."""
    try:
        with open(entry, "rb") as handle:
            info = os.fstat(handle.fileno())
            if info.st_uid != os.getuid() or info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
                return None  # only the user's own entries are unpickled
            seen, project = pickle.load(handle)
    except (OSError, EOFError, pickle.UnpicklingError, AttributeError, ImportError, TypeError, ValueError):
        return None
    if not isinstance(project, ProjectSpec) or not all(files.still_holds(o) for o in seen):
        return None
    return project


def load(path: Path, vars_files: Iterable[Path], var_pairs: Iterable[str], provider: str | None,
         lenient: bool, fresh: Callable[[], ProjectSpec]) -> ProjectSpec:  # fmt: skip
    """The project `fresh()` loads for these inputs: the kept one while nothing it read changed."""
    if os.environ.get("DEVLOOP_CONFIG_CACHE") == "0":
        return fresh()
    vars_files, var_pairs = list(vars_files), list(var_pairs)
    entry = entry_for(path, vars_files, var_pairs, provider, lenient)
    project = _kept(entry)
    if project is not None:
        with contextlib.suppress(OSError):
            os.utime(entry)  # recently used: the last to go
        return project
    with files.observing() as seen:
        project = fresh()
    if not any(app.secret_env for app in project.apps):
        # When it cannot be kept, the next command loads it again.
        with contextlib.suppress(OSError, pickle.PicklingError, TypeError, AttributeError):
            write_private(entry, pickle.dumps((seen, project), protocol=pickle.HIGHEST_PROTOCOL))
            _evict(entry.parent, MAX_ENTRIES)
    return project


def _evict(folder: Path, keep: int) -> None:
    """The least recently used entries beyond `keep` removed."""
    dated = []
    for entry in folder.glob("*.pickle"):
        with contextlib.suppress(OSError):
            dated.append((entry.stat().st_mtime_ns, entry))
    for _, entry in sorted(dated, reverse=True)[keep:]:
        with contextlib.suppress(OSError):
            entry.unlink()
