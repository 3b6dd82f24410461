"""YAML loading that remembers where every key and value came from.

PyYAML's composer gives nodes with marks; we construct plain Python data from
them while recording, for each path (a tuple of keys and list indexes), the
position of the key and of the value. Validation errors then point at
`file:line:column`. `((var))` placeholders are substituted here, on values, as
`cf push --vars-file` does; every variable without a value is reported at once,
each where it is first used.

YAML merge keys (`<<: *defaults`) are honoured as cf's YAML parser honours them:
the keys written beside the merge override the merged ones; a key written twice
in the same mapping is still an error.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from devloop.errors import ConfigError, Location

YamlPath = tuple[str | int, ...]

_VAR_RE = re.compile(r"\(\(([-\w.]+)\)\)")
_TRAILING_TAB = re.compile(r"(?<=\S)[ \t]*\t[ \t]*$", re.MULTILINE)
_MERGE_TAG = "tag:yaml.org,2002:merge"
MAX_VALUES = 50_000  # a real config has hundreds; aliases can make a small file expand without bound


@dataclass
class Positions:
    file: str
    keys: dict[YamlPath, tuple[int, int]] = field(default_factory=dict)
    values: dict[YamlPath, tuple[int, int]] = field(default_factory=dict)
    referenced: set[YamlPath] = field(default_factory=set)  # values an alias or merge key reuses

    def at(self, path: YamlPath, *, key: bool = False) -> Location:
        """The closest known position for `path`, walking up to its parents."""
        table = self.keys if key else self.values
        probe = tuple(path)
        while probe:
            if probe in table:
                line, col = table[probe]
                return Location(self.file, line, col)
            if probe in self.values:
                line, col = self.values[probe]
                return Location(self.file, line, col)
            probe = probe[:-1]
        if () in self.values:
            line, col = self.values[()]
            return Location(self.file, line, col)
        return Location(self.file)


class Unresolved(str):
    """A value whose ((vars)) have no value, kept as written when loading leniently."""


def drop_unresolved(data: Any, key: str | None = None) -> Any:
    """The document without the values whose ((vars)) have no value (names keep their text).

    For commands that only need the apps' names (`down`, `status`, `logs`): a value that
    cannot be known is better left at its default than refused.
    """
    if isinstance(data, dict):
        return {
            k: drop_unresolved(v, k) for k, v in data.items() if not isinstance(v, Unresolved) or k == "name"
        }
    if isinstance(data, list):
        out = []
        for item in data:
            if isinstance(item, Unresolved):
                continue
            kept = drop_unresolved(item)
            if kept == {} and item != {}:
                continue  # an entry made of unknown values only (`- route: ((route))`)
            out.append(kept)
        return out
    return str(data) if isinstance(data, Unresolved) else data


def load_yaml(
    text: str, file: str, variables: Mapping[str, Any] | None = None, *, lenient: bool = False
) -> tuple[Any, Positions]:
    """Parse one YAML document into plain data plus the positions of its parts.

    `lenient`: a value using a variable without a value becomes an `Unresolved` string
    instead of the whole load failing."""
    positions = Positions(file)
    # Tabs after a value are whitespace for cf's parser (go-yaml), an error for PyYAML's.
    text = _TRAILING_TAB.sub("", text)
    try:
        loader = yaml.SafeLoader(text)
        try:
            node = loader.get_single_node()
            if node is None:
                return None, positions
            builder = _Builder(loader, positions, variables)
            data = builder.build(node, ())
            if not lenient:
                builder.report_missing()
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = Location(file, mark.line + 1, mark.column + 1) if mark else Location(file)
        problem = exc.problem or exc.context or "invalid YAML"
        if exc.context and exc.problem:
            problem = f"{exc.problem} ({exc.context})"
        raise ConfigError(where, f"YAML syntax error: {problem}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(Location(file), f"YAML error: {exc}") from None
    return data, positions


class _Builder:
    def __init__(
        self, loader: yaml.SafeLoader, positions: Positions, variables: Mapping[str, Any] | None
    ) -> None:
        self.loader = loader
        self.positions = positions
        self.variables = variables
        self.budget = MAX_VALUES
        self.missing: dict[str, Location] = {}  # variable -> where it is first used
        self.seen: dict[int, YamlPath] = {}  # node -> the path it was first built at

    def _pos(self, node: yaml.Node) -> tuple[int, int]:
        return node.start_mark.line + 1, node.start_mark.column + 1

    def build(self, node: yaml.Node, path: YamlPath) -> Any:
        self.budget -= 1
        if self.budget < 0:
            raise ConfigError(
                _loc(self.positions.file, node),
                f"the document expands to more than {MAX_VALUES:,} values (YAML aliases?); refusing it",
            )
        self.positions.values[path] = self._pos(node)
        first = self.seen.setdefault(id(node), path)
        if first != path:
            self.positions.referenced.add(first)
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, path)
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, (*path, i)) for i, item in enumerate(node.value)]
        value = self.loader.construct_object(node)
        if isinstance(value, str) and self.variables is not None and "((" in value:
            return self._substitute(value, node)
        return value

    def _pairs(self, node: yaml.MappingNode) -> list[tuple[yaml.Node, yaml.Node, bool]]:
        """(key, value, merged) in order: merged pairs first, then the mapping's own."""
        merged: list[tuple[yaml.Node, yaml.Node, bool]] = []
        own: list[tuple[yaml.Node, yaml.Node, bool]] = []
        for key_node, value_node in node.value:
            if key_node.tag != _MERGE_TAG:
                own.append((key_node, value_node, False))
                continue
            sources = value_node.value if isinstance(value_node, yaml.SequenceNode) else [value_node]
            seen: set[str] = set()
            for source in sources:
                if id(source) in self.seen:
                    self.positions.referenced.add(self.seen[id(source)])
                if not isinstance(source, yaml.MappingNode):
                    raise ConfigError(
                        _loc(self.positions.file, source),
                        "'<<' merges mappings only (an alias like *defaults)",
                    )
                for k, v, _ in self._pairs(source):
                    name = str(self.loader.construct_object(k))
                    if name not in seen:  # the first mapping of a merge list wins, as YAML says
                        seen.add(name)
                        merged.append((k, v, True))
        return merged + own

    def _mapping(self, node: yaml.MappingNode, path: YamlPath) -> dict[str, Any]:
        result: dict[str, Any] = {}
        written: set[str] = set()
        for key_node, value_node, merged in self._pairs(node):
            if not isinstance(key_node, yaml.ScalarNode):
                raise ConfigError(
                    _loc(self.positions.file, key_node),
                    "a key must be a plain string, not a list or mapping",
                )
            key = self.loader.construct_object(key_node)
            key = str(key) if not isinstance(key, str) else key
            if not merged:
                if key in written:
                    raise ConfigError(_loc(self.positions.file, key_node), f"duplicate key {key!r}")
                written.add(key)
            child = (*path, key)
            self.positions.keys[child] = self._pos(key_node)
            result.pop(key, None)  # an override moves the key to where it is written
            result[key] = self.build(value_node, child)
        return result

    def lookup(self, name: str) -> tuple[bool, Any]:
        """The value of ((name)); `a.b.c` walks nested mappings of a vars file, as cf does."""
        assert self.variables is not None
        if name in self.variables:
            return True, self.variables[name]
        head, *rest = name.split(".")
        if head not in self.variables:
            return False, None
        value: Any = self.variables[head]
        for part in rest:
            if not isinstance(value, Mapping) or part not in value:
                return False, None
            value = value[part]
        return True, value

    def _substitute(self, value: str, node: yaml.Node) -> Any:
        names = _VAR_RE.findall(value)
        found = {name: self.lookup(name) for name in names}
        missing = [n for n, (ok, _) in found.items() if not ok]
        for name in missing:
            self.missing.setdefault(name, _loc(self.positions.file, node))
        if missing:
            return Unresolved(value)
        whole = _VAR_RE.fullmatch(value)
        if whole:
            return found[whole.group(1)][1]
        return _VAR_RE.sub(lambda m: _as_text(found[m.group(1)][1]), value)

    def report_missing(self) -> None:
        if not self.missing:
            return
        first = next(iter(self.missing.values()))
        if len(self.missing) == 1:
            ((name, _),) = self.missing.items()
            message = f"variable (({name})) has no value"
        else:
            listed = ", ".join(f"(({n})) (line {loc.line})" for n, loc in self.missing.items())
            message = f"{len(self.missing)} variables have no value: {listed}"
        raise ConfigError(first, message, hint="pass them with --vars-file FILE or --var NAME=VALUE")


def _as_text(value: Any) -> str:
    """A variable's value inside a longer string, as cf writes it: booleans lowercase."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    return str(value)


def _loc(file: str, node: yaml.Node) -> Location:
    return Location(file, node.start_mark.line + 1, node.start_mark.column + 1)
