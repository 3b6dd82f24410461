"""Docker's .dockerignore rules, and the same file lists as the Docker SDK's matcher gave (which
devloop used before) wherever that matcher follows Docker."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from docker.utils.build import PatternMatcher

from devloop.build import dockerignore
from devloop.build.context import IgnoreRules, walk


def excluded(patterns: list[str], path: str) -> bool:
    return dockerignore.matches(dockerignore.rules(patterns), path)


@pytest.mark.parametrize(
    ("patterns", "path", "expected"),
    [
        (["*.log"], "a.log", True),
        (["*.log"], "sub/a.log", False),  # `*` stays within one part: the root only
        (["**/*.log"], "sub/deep/a.log", True),
        (["**/*.log"], "a.log", True),  # `**` is zero folders too
        (["build"], "build/x/y.o", True),  # a folder's pattern takes what is under it
        (["build/"], "build/x.o", True),
        (["/build"], "build/x.o", True),
        (["./build"], "build", True),
        (["a/../build"], "build", True),
        (["/../build"], "build", True),
        (["build", "!build/keep.txt"], "build/keep.txt", False),
        (["!build/keep.txt", "build"], "build/keep.txt", True),  # the last match decides
        (["build/*", "!build/keep*", "build/keep.tmp"], "build/keep.tmp", True),
        (["?.py"], "a.py", True),
        (["?.py"], "ab.py", False),
        (["docs/[ab]*.md"], "docs/a1.md", True),
        (["docs/[ab]*.md"], "docs/c.md", False),
        (["docs/[^ab]*.md"], "docs/c.md", True),
        (["a[.py"], "a[.py", True),  # no closing bracket: a plain `[`
        (["x\\*y"], "x*y", True),  # `\` quotes the next character
        (["x\\*y"], "xzy", False),
        (["a.b"], "axb", False),  # regex syntax means itself
        (["a+b"], "a+b", True),
        (["*.LOG"], "a.log", False),  # case-sensitive, as Docker is
        (["**/foo"], "a/b/foo/c", True),
        (["lib/**/test"], "lib/test", True),
        (["lib/**/test"], "lib/a/b/test", True),
        (["a/**"], "a", False),
        (["a/**"], "a/b/c", True),
        (["."], "x", False),  # `.` is ignored, as Docker says
        ([""], "x", False),
    ],
)
def test_docker_rules(patterns: list[str], path: str, expected: bool) -> None:
    assert excluded(patterns, path) is expected


GRID = [
    "*.log", "**/*.log", "build", "build/", "/build", "build/*", "!build/keep.txt", "**/node_modules",
    "node_modules", "a/**", "a/**/c", "**", "*", "?.py", "src/*.py", "src/**/*.py", "./x", "a/../b",
    "docs/[ab]*.md", "**/.env", "**/.env.*", ".env.*", "a*b", "lib/**/test", "*/foo", "foo/*/bar",
    "!*.md", "**/__pycache__", "**/*.pyc", "sub", "sub/deep", "!sub/deep/x", "!**/keep", "**/foo",
    "!a/b", "a/*/", "!src",
]  # fmt: skip
FILES = [
    "a.log", "sub/b.log", "sub/deep/b.log", "sub/deep/x", "build/x.o", "build/keep.txt",
    "node_modules/p/i.js", "x/node_modules/q.js", "a/b/c", "a/c", "a/b/foo/c", "b", "app.py",
    "src/m.py", "src/k/m.py", "docs/a1.md", "docs/c.md", ".env", ".env.local", "sub/.env",
    "sub/.env.prod", "ab", "axxb", "lib/test", "lib/a/b/test", "lib/a/test/x", "q/foo", "foo/z/bar",
    "readme.md", "p/__pycache__/m.pyc", "m.pyc", "z/keep", "z/w/keep", ".dockerignore",
]  # fmt: skip


class SdkRules(IgnoreRules):
    """The rules as devloop applied them with the Docker SDK's matcher."""

    def __init__(self, patterns: list[str]) -> None:
        super().__init__(patterns)
        self._sdk = PatternMatcher(patterns)
        self._reincludes = [p.cleaned_pattern for p in self._sdk.patterns if p.exclusion]
        self._has_excludes = any(not p.exclusion for p in self._sdk.patterns)

    def excluded(self, rel: str) -> bool:
        return self._has_excludes and bool(self._sdk.matches(rel))


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("context")
    for rel in FILES:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(rel)
    return root


def test_the_same_context_as_the_sdks_matcher_gave(tree: Path) -> None:
    """Every pattern and pair of patterns of the grid: the same files sent. (Where that matcher
    strays from Docker, the grid has no case: it ignores case, reads `\\` as a plain character, and
    misses a `**/foo` folder deeper than the pattern's parts, which the walk prunes anyway.)"""
    differ = []
    for patterns in itertools.chain(([p] for p in GRID), itertools.permutations(GRID, 2)):
        ours = {e.rel for e in walk(tree, IgnoreRules(patterns))}
        theirs = {e.rel for e in walk(tree, SdkRules(list(patterns)))}
        if ours != theirs:
            differ.append((patterns, sorted(ours ^ theirs)))
    assert differ == []
