"""Which changes alter the build inputs hash, with Docker's .dockerignore semantics."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from devloop.build.context import ContextHasher, IgnoreRules, inputs_digest, read_dockerignore, walk


def files_of(context: Path, patterns: list[str] | None = None) -> set[str]:
    rules = IgnoreRules(read_dockerignore(context) if patterns is None else patterns, ["Dockerfile"])
    return {e.rel for e in walk(context, rules)}


def digest(context: Path, hasher: ContextHasher | None = None) -> str:
    rules = IgnoreRules(read_dockerignore(context), ["Dockerfile", ".dockerignore"])
    return (hasher or ContextHasher()).digest(walk(context, rules))


def make(context: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (context / name).parent.mkdir(parents=True, exist_ok=True)
        (context / name).write_text(text)


def test_docker_star_pattern_matches_only_at_the_root(tmp_path: Path) -> None:
    # git would ignore sub/b.log too; Docker does not.
    make(tmp_path, {"a.log": "", "sub/b.log": "", "app.py": "", ".dockerignore": "*.log\n"})
    assert files_of(tmp_path) == {"sub/b.log", "app.py", ".dockerignore"}


def test_double_star_matches_at_any_depth(tmp_path: Path) -> None:
    make(tmp_path, {"a.log": "", "sub/deep/b.log": "", "app.py": ""})
    assert files_of(tmp_path, ["**/*.log"]) == {"app.py"}


def test_comments_blank_lines_and_negation(tmp_path: Path) -> None:
    make(
        tmp_path,
        {
            ".dockerignore": "# build output\n\nbuild\n!build/keep.txt\n",
            "build/x.o": "",
            "build/keep.txt": "",
            "main.c": "",
        },
    )
    assert files_of(tmp_path) == {".dockerignore", "build/keep.txt", "main.c"}


def test_excluded_folders_are_pruned_not_walked(tmp_path: Path) -> None:
    make(tmp_path, {"node_modules/pkg/index.js": "", "src/app.js": ""})
    os.chmod(tmp_path / "node_modules", 0o000)  # walking into it would fail to list
    try:
        assert files_of(tmp_path, ["node_modules"]) == {"src/app.js"}
    finally:
        os.chmod(tmp_path / "node_modules", 0o755)


def test_dockerfile_is_always_part_of_the_context(tmp_path: Path) -> None:
    make(tmp_path, {"Dockerfile": "FROM x\n", "app.py": ""})
    assert files_of(tmp_path, ["*"]) == {"Dockerfile"}


@pytest.mark.parametrize(
    ("change", "changes_digest"),
    [
        (lambda d: (d / "app.py").write_text("print(2)\n"), True),
        (lambda d: (d / "new.py").write_text(""), True),
        (lambda d: (d / "app.py").unlink(), True),
        (lambda d: (d / "app.py").rename(d / "main.py"), True),
        (lambda d: os.chmod(d / "app.py", 0o755), True),
        (lambda d: (d / ".dockerignore").write_text("*.md\n"), True),
        (lambda d: (d / "debug.log").write_text("noise"), False),  # ignored by .dockerignore
        (lambda d: (d / "node_modules" / "x.js").write_text(""), False),
        (lambda d: os.utime(d / "app.py", (1, 1)), False),  # mtime only: same content
        (lambda d: (d / "app.py").write_text("print(1)\n"), False),  # rewritten, same bytes
    ],
    ids=[
        "edit",
        "add",
        "delete",
        "rename",
        "chmod+x",
        "dockerignore-edit",
        "ignored-file",
        "ignored-dir",
        "touch",
        "same-bytes",
    ],
)
def test_which_changes_alter_the_digest(
    tmp_path: Path, change: Callable[[Path], object], changes_digest: bool
) -> None:
    make(
        tmp_path, {"app.py": "print(1)\n", ".dockerignore": "*.log\nnode_modules\n", "node_modules/a.js": ""}
    )
    hasher = ContextHasher()
    before = digest(tmp_path, hasher)
    change(tmp_path)
    assert (digest(tmp_path, hasher) != before) is changes_digest
    # A fresh hasher (no stat cache) agrees: the cache never hides a change.
    assert digest(tmp_path, ContextHasher()) == digest(tmp_path, hasher)


def test_inputs_digest_covers_dockerfile_target_and_args() -> None:
    base = inputs_digest("ctx", "FROM a", None, [("A", "1")])
    assert inputs_digest("ctx", "FROM a", None, [("A", "1")]) == base
    assert inputs_digest("ctx2", "FROM a", None, [("A", "1")]) != base
    assert inputs_digest("ctx", "FROM b", None, [("A", "1")]) != base
    assert inputs_digest("ctx", "FROM a", "dev", [("A", "1")]) != base
    assert inputs_digest("ctx", "FROM a", None, [("A", "2")]) != base
    assert inputs_digest("ctx", "FROM a", None, [("A", "1"), ("B", "")]) != base


def test_unchanged_files_are_not_read_again(tmp_path: Path) -> None:
    make(tmp_path, {"a.txt": "a", "b.txt": "b"})
    hasher = ContextHasher()
    digest(tmp_path, hasher)
    os.chmod(tmp_path / "a.txt", 0o644)  # same mode: stat key unchanged
    (tmp_path / "b.txt").write_text("B")
    reads: list[str] = []
    original = hasher.file_digest

    def spy(entry):  # type: ignore[no-untyped-def]
        key = (entry.size, entry.mtime_ns, entry.inode, entry.mode)
        if hasher._cache.get(entry.path, (None,))[0] != key:
            reads.append(entry.rel)
        return original(entry)

    hasher.file_digest = spy  # type: ignore[method-assign]
    digest(tmp_path, hasher)
    assert reads == ["b.txt"]
