"""Read `.env` files (KEY=VALUE lines) whose values devloop treats as secrets."""

from __future__ import annotations

import re
from pathlib import Path

from devloop.config import files
from devloop.errors import ConfigError, Location

_LINE = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*?)\s*$")


def parse_dotenv(path: Path) -> tuple[tuple[str, str], ...]:
    try:
        text = files.read_text(path)
    except OSError as exc:
        raise ConfigError(Location(str(path)), f"cannot read env file: {exc.strerror}") from None
    pairs: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        match = _LINE.match(line)
        if not match:
            # Never echo the line itself: it may hold a secret.
            raise ConfigError(
                Location(str(path), number),
                "expected KEY=VALUE (the line is not shown: it may hold a secret)",
            )
        key, value = match.groups()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        elif " #" in value:
            value = value.split(" #", 1)[0].rstrip()
        pairs[key] = value
    return tuple(pairs.items())
