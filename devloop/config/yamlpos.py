"""YAML loading that remembers where every key and value came from.

PyYAML's composer gives nodes with marks; we construct plain Python data from
them while recording, for each path (a tuple of keys and list indexes), the
position of the key and of the value. Validation errors then point at
`file:line:column`. `((var))` placeholders are substituted here, on values, as
`cf push --vars-file` does, so a missing variable is reported where it is used.
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
MAX_VALUES = 50_000  # a real config has hundreds; aliases can make a small file expand without bound


@dataclass
class Positions:
    file: str
    keys: dict[YamlPath, tuple[int, int]] = field(default_factory=dict)
    values: dict[YamlPath, tuple[int, int]] = field(default_factory=dict)

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


def load_yaml(text: str, file: str, variables: Mapping[str, Any] | None = None) -> tuple[Any, Positions]:
    """Parse one YAML document into plain data plus the positions of its parts."""
    positions = Positions(file)
    try:
        loader = yaml.SafeLoader(text)
        try:
            node = loader.get_single_node()
            if node is None:
                return None, positions
            data = _Builder(loader, positions, variables).build(node, ())
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
        if isinstance(node, yaml.MappingNode):
            self.loader.flatten_mapping(node)
            result: dict[str, Any] = {}
            for key_node, value_node in node.value:
                if not isinstance(key_node, yaml.ScalarNode):
                    raise ConfigError(
                        _loc(self.positions.file, key_node),
                        "a key must be a plain string, not a list or mapping",
                    )
                key = self.loader.construct_object(key_node)
                key = str(key) if not isinstance(key, str) else key
                if key in result:
                    raise ConfigError(_loc(self.positions.file, key_node), f"duplicate key {key!r}")
                child = (*path, key)
                self.positions.keys[child] = self._pos(key_node)
                result[key] = self.build(value_node, child)
            return result
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, (*path, i)) for i, item in enumerate(node.value)]
        value = self.loader.construct_object(node)
        if isinstance(value, str) and self.variables is not None and "((" in value:
            return self._substitute(value, node)
        return value

    def _substitute(self, value: str, node: yaml.Node) -> Any:
        assert self.variables is not None
        names = _VAR_RE.findall(value)
        missing = [n for n in names if n not in self.variables]
        if missing:
            listed = ", ".join(f"(({n}))" for n in missing)
            raise ConfigError(
                _loc(self.positions.file, node),
                f"variable {listed} has no value",
                hint="pass it with --vars-file FILE or --var NAME=VALUE",
            )
        whole = _VAR_RE.fullmatch(value)
        if whole:
            return self.variables[whole.group(1)]
        return _VAR_RE.sub(lambda m: str(self.variables[m.group(1)]), value)  # type: ignore[index]


def _loc(file: str, node: yaml.Node) -> Location:
    return Location(file, node.start_mark.line + 1, node.start_mark.column + 1)
