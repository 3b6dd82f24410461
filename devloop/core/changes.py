"""What a batch of changed files means for an app: sync them, rebuild, or nothing.

Pure: paths are POSIX strings relative to the app folder.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache

from devloop.core.spec import AppSpec, SyncRule

_EDITOR_TEMP = (
    re.compile(r"\.(sw[a-p]x?|swx)$"),  # vim swap files (.swp, .swo, .swpx, .swx)
    re.compile(r"~$"),  # backups (vim, emacs, gedit)
    re.compile(r"^4913$"),  # vim's write-permission probe
    re.compile(r"^\.#"),  # emacs lock files
    re.compile(r"^#.*#$"),  # emacs auto-save
    re.compile(r"^\.goutputstream-"),  # GNOME atomic saves
    re.compile(r"\.(tmp|temp)$"),
    re.compile(r"^\.~lock\..*#$"),  # LibreOffice
    re.compile(r"^___jb_(tmp|old)___$|___jb_(tmp|old)___$"),  # JetBrains safe write
    re.compile(r"^\.DS_Store$"),
)


def is_editor_temp(rel: str) -> bool:
    name = rel.rsplit("/", 1)[-1]
    return any(p.search(name) for p in _EDITOR_TEMP)


class Action(StrEnum):
    SYNC = "sync"
    REBUILD = "rebuild"


@dataclass(frozen=True)
class SyncCopy:
    rel: str  # path in the app folder
    dest: str  # absolute path in the container


@dataclass(frozen=True)
class Plan:
    action: Action
    files: tuple[str, ...]
    copies: tuple[SyncCopy, ...] = ()


@lru_cache(maxsize=256)
def _glob_regex(pattern: str) -> tuple[re.Pattern[str], str]:
    """A glob as a regex (`*` within a folder, `**` across folders) and its fixed base folder."""
    pattern = pattern.strip("/") if pattern.endswith("/") else pattern
    parts = pattern.split("/")
    base_parts: list[str] = []
    for part in parts:
        if any(ch in part for ch in "*?["):
            break
        base_parts.append(part)
    out = ""
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if pattern.startswith("**/", i):
            out += "(?:.*/)?"
            i += 3
            continue
        if pattern.startswith("**", i):
            out += ".*"
            i += 2
            continue
        out += {"*": "[^/]*", "?": "[^/]"}.get(ch, re.escape(ch))
        i += 1
    base = "/".join(base_parts)
    fixed = len(base_parts) == len(parts)
    # A pattern with no wildcard names a file or a folder: match it and everything below.
    regex = re.compile(f"^{out}(?:/.*)?$" if fixed else f"^{out}$")
    if fixed and "/" in base:
        base = base.rsplit("/", 1)[0] if not pattern.endswith("/") else base
    return regex, base if not fixed else pattern


def sync_target(rule: SyncRule, rel: str) -> str | None:
    """Where `rel` goes in the container under `rule`, or None if the rule does not cover it."""
    regex, base = _glob_regex(rule.src)
    if not regex.match(rel):
        return None
    inner = rel[len(base) :].lstrip("/") if base and rel.startswith(base) else rel
    if base and inner == "" and rel == base:
        inner = rel.rsplit("/", 1)[-1]
    return rule.dest.rstrip("/") + "/" + inner


def plan_changes(app: AppSpec, rel_paths: Iterable[str]) -> Plan | None:
    """Sync when every changed file is covered by a sync rule, else rebuild; None if nothing counts."""
    files = tuple(sorted({p for p in rel_paths if not is_editor_temp(p)}))
    if not files:
        return None
    copies: list[SyncCopy] = []
    for rel in files:
        dest = next((d for d in (sync_target(r, rel) for r in app.sync) if d is not None), None)
        if dest is None:
            return Plan(Action.REBUILD, files)
        copies.append(SyncCopy(rel, dest))
    return Plan(Action.SYNC, files, tuple(copies))
