"""Docker's `.dockerignore` matching, as the Dockerfile reference states it and the engine and
BuildKit apply it. Pure; the Docker SDK's matcher cost every build a ~70 ms import of the SDK.

The rules: a pattern is cleaned as Go's `filepath.Clean` would (`.` parts dropped, `a/..` folded,
a leading `/` dropped; `.` alone is ignored); `*` and `?` stand for characters within one path
part, `**` for any number of parts (none too), `[...]` for a character class, `\\` quotes the next
character; a `!` line re-includes what it matches; the last line that matches decides. A pattern
that matches a folder matches everything under it. Matching is case-sensitive, as Docker's is.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

_SPECIAL = frozenset(".+()|{}$^")  # regex syntax that a pattern means literally


@dataclass(frozen=True)
class Rule:
    """One line: its cleaned pattern, whether it re-includes, and the regex of its paths."""

    pattern: str
    exclusion: bool
    regex: re.Pattern[str]


def clean(pattern: str) -> str:
    """The pattern as Docker matches it: `/`-separated, no `.`, `x/..` folded, not rooted."""
    rooted = pattern.startswith("/")
    parts: list[str] = []
    for part in pattern.split("/"):
        if part in ("", "."):
            continue
        if part == ".." and parts and parts[-1] != "..":
            parts.pop()
        elif part != ".." or not rooted:  # `..` above the root is the root
            parts.append(part)
    return "/".join(parts)


def _class_end(pattern: str, start: int) -> int:
    """The index of the `]` closing the class opened at `start`, or -1 (then `[` is literal)."""
    at = start + 1
    if at < len(pattern) and pattern[at] == "^":
        at += 1
    first = at
    while at < len(pattern):
        if pattern[at] == "\\":
            at += 2
            continue
        if pattern[at] == "]" and at > first:
            return at
        at += 1
    return -1


def translate(pattern: str) -> str:
    """The regular expression of the paths a cleaned pattern matches (whole paths only)."""
    out: list[str] = []
    at = 0
    while at < len(pattern):
        char = pattern[at]
        if char == "*" and pattern.startswith("**", at):
            at += 2
            if pattern.startswith("/", at):
                at += 1
            out.append(".*" if at >= len(pattern) else "(?:.*/)?")  # `**` last: everything below
            continue
        if char == "*":
            out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        elif char == "\\" and at + 1 < len(pattern):
            at += 1
            out.append(re.escape(pattern[at]))
        elif char == "[" and (end := _class_end(pattern, at)) != -1:
            out.append(pattern[at : end + 1])
            at = end
        elif char in _SPECIAL or char in "[]":
            out.append(re.escape(char))
        else:
            out.append(char)
        at += 1
    return "".join(out)


def rules(patterns: Iterable[str]) -> list[Rule]:
    """The lines as rules, in order; empty ones (blank, `.`, `/`) left out, as Docker does."""
    found = []
    for line in patterns:
        text = line.strip()
        exclusion = text.startswith("!")
        cleaned = clean(text[1:].strip() if exclusion else text)
        if cleaned:
            found.append(Rule(cleaned, exclusion, re.compile(translate(cleaned))))
    return found


def matches(found: list[Rule], path: str) -> bool:
    """Whether `path` (relative, `/`-separated) is excluded: by the last rule that matches it or
    one of the folders it is in."""
    parts = path.split("/")
    prefixes = ["/".join(parts[:count]) for count in range(1, len(parts))]
    excluded = False
    for rule in found:
        if rule.exclusion != excluded:
            continue  # this rule cannot change the verdict
        if rule.regex.fullmatch(path) or any(rule.regex.fullmatch(p) for p in prefixes):
            excluded = not rule.exclusion
    return excluded
