"""Change one app's env in devloop.yaml or manifest.yml, keeping comments, order and layout.

ruamel.yaml's round-trip mode keeps what PyYAML drops (comments, key order,
quoting), so `devloop set-env` leaves the rest of the user's file as it was.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap

from devloop.errors import ConfigError, Location, UsageError


def _indents(text: str) -> tuple[int, int, int]:
    """(mapping, sequence, offset) as the file writes them, so an edit changes one line only."""
    lines = text.splitlines()
    for number, line in enumerate(lines):
        stripped = line.lstrip(" ")
        if stripped.startswith("- ") and number > 0 and lines[number - 1].rstrip().endswith(":"):
            offset = len(line) - len(stripped)
            following = lines[number + 1] if number + 1 < len(lines) else ""
            inner = len(following) - len(following.lstrip(" "))
            sequence = inner if inner > offset else offset + 2
            mapping = max(2, sequence - offset)
            return mapping, sequence, offset
    return 2, 4, 2


def _load(path: Path) -> tuple[YAML, Any]:
    yaml = YAML()
    yaml.preserve_quotes = True
    yaml.width = 4096  # never re-wrap the user's long lines
    try:
        text = path.read_text(encoding="utf-8")
        mapping, sequence, offset = _indents(text)
        yaml.indent(mapping=mapping, sequence=sequence, offset=offset)
        yaml.explicit_start = text.lstrip().startswith("---")
        data = yaml.load(text)
    except Exception as exc:  # the loader reports the position itself on the next validate
        raise ConfigError(Location(str(path)), f"cannot edit: {exc}") from None
    return yaml, data


def _app_entry(data: Any, path: Path, app: str) -> Any:
    key = "applications" if isinstance(data, dict) and "applications" in data else "apps"
    for entry in (data or {}).get(key) or []:
        if isinstance(entry, dict) and entry.get("name") == app:
            return entry
    raise UsageError(f"no app named {app!r} in {path}")


def set_env(path: Path, app: str, key: str, value: str) -> None:
    yaml, data = _load(path)
    entry = _app_entry(data, path, app)
    env = entry.get("env")
    if env is None:
        entry["env"] = env = CommentedMap()
    env[key] = value
    _save(yaml, data, path)


def unset_env(path: Path, app: str, key: str) -> bool:
    yaml, data = _load(path)
    entry = _app_entry(data, path, app)
    env = entry.get("env")
    if not env or key not in env:
        return False
    del env[key]
    if not env:
        del entry["env"]
    _save(yaml, data, path)
    return True


def _save(yaml: YAML, data: Any, path: Path) -> None:
    temp = path.with_name(f".{path.name}.devloop-tmp")
    with temp.open("w", encoding="utf-8") as handle:
        yaml.dump(data, handle)
    temp.replace(path)  # never a half-written config
