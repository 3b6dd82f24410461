"""Turn pydantic validation errors into one devloop ConfigError with a location."""

from __future__ import annotations

import difflib
import re
from typing import Any

from pydantic import BaseModel, ValidationError

from devloop.config.yamlpos import Positions, YamlPath
from devloop.errors import ConfigError

_CLASS_NAME = re.compile(r",? or (an )?instance of \w+")


def _describe(path: YamlPath) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "the top level"


def _model_at(root: type[BaseModel], path: YamlPath) -> type[BaseModel] | None:
    """The pydantic model that validates the mapping found at `path`."""
    model: Any = root
    for part in path:
        if isinstance(part, int):
            continue
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            return None
        field = _field_by_key(model, part)
        if field is None:
            return None
        model = _inner_model(field.annotation)
    return model if isinstance(model, type) and issubclass(model, BaseModel) else None


def _field_by_key(model: type[BaseModel], key: str) -> Any:
    for name, info in model.model_fields.items():
        if (info.alias or name) == key:
            return info
    return None


def _inner_model(annotation: Any) -> Any:
    """Find a BaseModel inside list[...] / X | None / dict[str, X] annotations."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()) or ():
        found = _inner_model(arg)
        if found is not None:
            return found
    return None


def _known_prefix(path: YamlPath, positions: Positions) -> YamlPath:
    """The longest leading part of `path` that exists in the document."""
    for end in range(len(path), 0, -1):
        if path[:end] in positions.values:
            return path[:end]
    return ()


def _expected(first_tag: str | int, exc: ValidationError) -> str:
    scalar_tags = {"str", "int", "float", "bool"}
    tags = {str(e["loc"][-1]) for e in exc.errors() if e["loc"]}
    if first_tag in scalar_tags and tags & scalar_tags:
        return "a string, number or boolean"
    return "a value of another type"


def _type_name(value: Any) -> str:
    return {
        dict: "mapping",
        list: "list",
        str: "string",
        bool: "boolean",
        int: "number",
        float: "number",
    }.get(type(value), type(value).__name__)


def known_keys(model: type[BaseModel]) -> list[str]:
    return [info.alias or name for name, info in model.model_fields.items()]


def to_config_error(exc: ValidationError, positions: Positions, root: type[BaseModel]) -> ConfigError:
    """The first error, located; pydantic lists errors in document order."""
    err = exc.errors()[0]
    full: YamlPath = tuple(p for p in err["loc"] if isinstance(p, str | int))
    kind = err["type"]
    path = full if kind in ("missing", "extra_forbidden") else _known_prefix(full, positions)
    if len(path) < len(full):
        # The rest of the loc names union members (`str`, `int`): say what fits instead.
        return ConfigError(
            positions.at(path),
            f"{_describe(path)}: expected {_expected(full[len(path)], exc)}, "
            f"got a {_type_name(err.get('input'))}",
        )
    if kind == "extra_forbidden":
        key = str(path[-1])
        parent = path[:-1]
        model = _model_at(root, parent)
        keys = known_keys(model) if model else []
        close = difflib.get_close_matches(key, keys, n=1, cutoff=0.6)
        hint = f"did you mean {close[0]!r}?" if close else None
        where = f" in {_describe(parent)}" if parent else ""
        message = f"unknown key {key!r}{where}"
        if hint:
            message += f" ({hint})"
        elif keys:
            message += "; known keys: " + ", ".join(sorted(keys))
        return ConfigError(positions.at(path, key=True), message)
    if kind == "missing":
        parent = path[:-1]
        return ConfigError(positions.at(parent), f"missing required key {path[-1]!r} in {_describe(parent)}")
    message = _CLASS_NAME.sub("", str(err["msg"]))  # "... or instance of CfRoute": our class, not theirs
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        message = "Expected a mapping (key: value lines)"
    if message.startswith("Value error, "):
        message = message[len("Value error, ") :]
    value = err.get("input")
    if kind.endswith("_type") or kind in {"literal_error", "enum"}:
        shown = repr(value) if not isinstance(value, dict | list) else type(value).__name__
        message = f"{_describe(path)}: {message.lower()}, got {shown}"
    else:
        message = f"{_describe(path)}: {message}"
    return ConfigError(positions.at(path), message)
