"""Which paths of an app folder matter to a rebuild: git's, Docker's and devloop's ignore rules.

Pure but for reading the rule files: the watcher asks `ignored_dir` before it places
a watch (pruning) and `ignored_file` for each event. Docker's matcher (.dockerignore,
root-anchored) differs from git's (.gitignore, any depth, one file per folder), so
each dialect keeps its own.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable
from pathlib import Path

import pathspec

from devloop.build.context import GENERATED_BUILD_EXCLUDES, IgnoreRules, read_dockerignore
from devloop.core.changes import is_editor_temp
from devloop.core.spec import AppSpec

DEVLOOP_IGNORES = (
    ".git", ".hg", ".svn", ".devloop", "__pycache__", ".mypy_cache", ".pytest_cache",
    ".ruff_cache", ".tox", ".nox", ".venv", ".idea", ".vscode", "node_modules",
)  # fmt: skip
RULE_FILES = frozenset({".gitignore", ".dockerignore"})  # a change to one re-reads the rules


class WatchRules:
    """Which paths of one app folder matter: not VCS data, not ignored by git, Docker or devloop."""

    def __init__(self, root: Path, docker_patterns: Iterable[str], keep: Iterable[str] = ()) -> None:
        self.root = root
        self.keep = frozenset(keep)
        self._docker = IgnoreRules(docker_patterns)
        self._git = _gitignores(root)

    @classmethod
    def for_app(cls, app: AppSpec) -> WatchRules:
        root = app.source
        docker: list[str] = []
        keep = {".dockerignore", ".gitignore"}
        if app.build is not None:
            docker = read_dockerignore(app.build.context)
            if app.build.dockerfile is None:
                docker += [p for p in GENERATED_BUILD_EXCLUDES if p != ".dockerignore"]
            else:
                with contextlib.suppress(ValueError):
                    keep.add(app.build.dockerfile.relative_to(root).as_posix())
        return cls(root, docker, keep)

    def ignored_dir(self, rel: str) -> bool:
        name = rel.rsplit("/", 1)[-1]
        if name in DEVLOOP_IGNORES:
            return True
        if self._docker.prune(rel):
            return True
        return self._git_ignored(rel + "/")

    def ignored_file(self, rel: str) -> bool:
        if rel in self.keep:
            return False
        if is_editor_temp(rel):
            return True
        parts = rel.split("/")
        if any(p in DEVLOOP_IGNORES for p in parts[:-1]):
            return True
        if self._docker.excluded(rel):
            return True
        return self._git_ignored(rel)

    def _git_ignored(self, rel: str) -> bool:
        for base, spec in self._git:
            if base and not rel.startswith(base + "/"):
                continue
            inner = rel[len(base) + 1 :] if base else rel
            if spec.match_file(inner):
                return True
        return False


def _gitignores(root: Path) -> list[tuple[str, pathspec.GitIgnoreSpec]]:
    """Every .gitignore under `root` (outside pruned folders), each applying to its own subtree."""
    found: list[tuple[str, pathspec.GitIgnoreSpec]] = []
    pending = [""]
    while pending:
        rel_dir = pending.pop()
        folder = root / rel_dir if rel_dir else root
        try:
            text = (folder / ".gitignore").read_text(encoding="utf-8")
            found.append((rel_dir, pathspec.GitIgnoreSpec.from_lines(text.splitlines())))
        except (OSError, UnicodeDecodeError):
            pass
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for entry in entries:
            if entry.is_dir(follow_symlinks=False) and entry.name not in DEVLOOP_IGNORES:
                rel = f"{rel_dir}/{entry.name}" if rel_dir else entry.name
                if not any(
                    spec.match_file((rel[len(b) + 1 :] if b else rel) + "/")
                    for b, spec in found
                    if not b or rel.startswith(b + "/")
                ):
                    pending.append(rel)
    return found


def files_under(rules: WatchRules) -> list[str]:
    """Every file the rules keep, relative to the root (the tree that just came back)."""
    found = []
    root = str(rules.root)
    for folder, dirs, files in os.walk(root):
        base = os.path.relpath(folder, root).replace(os.sep, "/")
        prefix = "" if base == "." else base + "/"
        dirs[:] = [d for d in dirs if not rules.ignored_dir(prefix + d)]
        found += [prefix + f for f in files if not rules.ignored_file(prefix + f)]
    return found
