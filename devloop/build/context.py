"""What goes into an image build, and a content hash of it.

The file list follows Docker's `.dockerignore` rules (`devloop.build.dockerignore`;
they differ from git's: `*.log` matches only at the context root). Excluded
folders are pruned while walking unless a `!` pattern could re-include something
inside them, as Docker does.

Hashing is cached by (size, mtime, inode, mode): an unchanged file is not read
again, so checking that nothing changed in a large context costs a walk and a
stat per file.
"""

from __future__ import annotations

import hashlib
import io
import os
import stat
import tarfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from devloop.build import dockerignore

# Never sent in a build whose Dockerfile devloop generates: secrets, VCS data,
# host-built dependencies and devloop's own files.
GENERATED_BUILD_EXCLUDES = (
    ".git",
    ".hg",
    ".svn",
    ".env",
    ".env.*",
    "**/.env",
    "**/.env.*",
    "*.pem",
    "*.key",
    "**/*.pem",
    "**/*.key",
    "node_modules",
    "**/node_modules",
    "**/__pycache__",
    "**/*.pyc",
    ".venv",
    "venv",
    "devloop.yaml",
    ".dockerignore",
)


def read_dockerignore(context: Path) -> list[str]:
    """Patterns as Docker reads them: trimmed lines, blank lines and `#` comments dropped."""
    path = context / ".dockerignore"
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    return [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]


class IgnoreRules:
    """Docker's matcher plus the pruning decision for folders. `.dockerignore` itself is always
    sent, as the docker CLI sends it."""

    def __init__(self, patterns: Iterable[str], always_include: Iterable[str] = ()) -> None:
        self.patterns = list(patterns)
        lines = [*self.patterns, *(f"!{p}" for p in always_include), "!.dockerignore"]
        self._rules = dockerignore.rules(lines)
        self._reincludes = [r.pattern for r in self._rules if r.exclusion]
        self._has_excludes = any(not r.exclusion for r in self._rules)
        self._verdicts: dict[str, bool] = {}  # rules are immutable, so verdicts can be kept

    def excluded(self, rel: str) -> bool:
        if not self._has_excludes:
            return False
        verdict = self._verdicts.get(rel)
        if verdict is None:
            verdict = self._verdicts[rel] = dockerignore.matches(self._rules, rel)
        return verdict

    def may_reinclude_under(self, rel_dir: str) -> bool:
        return any(p.startswith(rel_dir) for p in self._reincludes)

    def prune(self, rel_dir: str) -> bool:
        """True when nothing under `rel_dir` can be part of the context."""
        return self.excluded(rel_dir) and not self.may_reinclude_under(rel_dir)


@dataclass(frozen=True)
class ContextEntry:
    rel: str  # POSIX path relative to the context
    path: str  # absolute
    mode: int
    size: int
    mtime_ns: int
    inode: int
    is_link: bool


def walk(context: Path, rules: IgnoreRules) -> Iterator[ContextEntry]:
    """Files (and symlinks) that Docker would send, in no particular order."""
    root = str(context)
    pending = [""]
    while pending:
        rel_dir = pending.pop()
        try:
            scan = os.scandir(os.path.join(root, rel_dir) if rel_dir else root)
        except (FileNotFoundError, NotADirectoryError, PermissionError):
            continue
        with scan:
            for entry in scan:
                rel = f"{rel_dir}/{entry.name}" if rel_dir else entry.name
                try:
                    is_dir = entry.is_dir(follow_symlinks=False)
                    if is_dir:
                        if not rules.prune(rel):
                            pending.append(rel)
                        continue
                    if rules.excluded(rel):
                        continue
                    info = entry.stat(follow_symlinks=False)
                except FileNotFoundError:
                    continue  # removed while we walked
                yield ContextEntry(
                    rel,
                    entry.path,
                    stat.S_IMODE(info.st_mode),
                    info.st_size,
                    info.st_mtime_ns,
                    info.st_ino,
                    stat.S_ISLNK(info.st_mode),
                )


class ContextHasher:
    """Hashes contexts, reading only files whose stat changed since the last call."""

    def __init__(self) -> None:
        self._cache: dict[str, tuple[tuple[int, int, int, int], str]] = {}

    def file_digest(self, entry: ContextEntry) -> str:
        key = (entry.size, entry.mtime_ns, entry.inode, entry.mode)
        cached = self._cache.get(entry.path)
        if cached is not None and cached[0] == key:
            return cached[1]
        if entry.is_link:
            digest = "link:" + os.readlink(entry.path)
        else:
            sha = hashlib.sha256()
            try:
                with open(entry.path, "rb") as handle:
                    for block in iter(lambda: handle.read(1 << 20), b""):
                        sha.update(block)
            except (FileNotFoundError, IsADirectoryError):
                return "gone"
            digest = sha.hexdigest()
        self._cache[entry.path] = (key, digest)
        return digest

    def digest(self, entries: Iterable[ContextEntry]) -> str:
        sha = hashlib.sha256()
        for entry in sorted(entries, key=lambda e: e.rel):
            exec_bit = "x" if entry.mode & 0o111 else "-"
            sha.update(f"{entry.rel}\0{exec_bit}\0{self.file_digest(entry)}\n".encode())
        return sha.hexdigest()


def inputs_digest(
    context_digest: str, dockerfile_text: str, target: str | None, args: Iterable[tuple[str, str]]
) -> str:
    """Everything that decides the image: context, Dockerfile, target, build args."""
    sha = hashlib.sha256(b"devloop-build-v1\0")
    sha.update(context_digest.encode() + b"\0")
    sha.update(dockerfile_text.encode() + b"\0")
    sha.update((target or "").encode() + b"\0")
    for key, value in sorted(args):
        sha.update(f"{key}={value}\0".encode())
    return sha.hexdigest()


def add_dockerfile(tar: tarfile.TarFile, text: str) -> None:
    """`text` as the archive's `Dockerfile` (mode 644): a build context sent on stdin carries its own."""
    data = text.encode()
    info = tarfile.TarInfo("Dockerfile")
    info.size = len(data)
    info.mode = 0o644
    tar.addfile(info, io.BytesIO(data))
