"""Which log lines to show and how: the filters and formats of `devloop logs` (pure)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime

import click

from devloop.core.logbuffer import LogLine, colour_for

FORMATS = ("default", "raw", "json")


@dataclass(frozen=True)
class LogFilter:
    apps: frozenset[str] = frozenset()  # empty: every app
    include: tuple[re.Pattern[str], ...] = ()
    exclude: tuple[re.Pattern[str], ...] = ()
    container: str | None = None
    sources: frozenset[str] = frozenset()  # empty: every source (APP, STG, API, RTR)

    def matches(self, line: LogLine, container_name: str = "") -> bool:
        """Whether to show `line`; `container_name` is its container's (or pod's) name, which
        `container` may prefix as well as the id."""
        if self.apps and line.app not in self.apps:
            return False
        if self.sources and line.source not in self.sources:
            return False
        if self.container and not any(
            known.startswith(self.container) for known in (line.container, container_name) if known
        ):
            return False
        if self.include and not any(p.search(line.text) for p in self.include):
            return False
        return not any(p.search(line.text) for p in self.exclude)


def parse_duration(text: str) -> float:
    """`30s`, `5m`, `2h`, `1d` in seconds, as `--since` takes them."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*", text)
    if not match:
        raise ValueError(f"invalid duration {text!r}: use e.g. 30s, 5m, 2h")
    return float(match.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}[match.group(2)]


def timestamp(ns: int) -> str:
    return datetime.fromtimestamp(ns / 1e9, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def format_line(line: LogLine, mode: str = "default", timestamps: bool = False, colour: bool = False) -> str:
    if mode == "json":
        return json.dumps(
            {
                "app": line.app,
                "source": line.source,
                "instance": line.instance,
                "process": line.process or ("web" if line.instance is not None else None),
                "container": line.container,
                "timestamp": timestamp(line.timestamp_ns) if line.timestamp_ns else None,
                "text": click.unstyle(line.text),
            }
        )
    if mode == "raw":
        return line.text if colour else click.unstyle(line.text)
    tag = f"[{line.tag}]"
    if colour and line.source == "APP":
        tag = click.style(tag, fg=colour_for(line.colour_key))
    elif colour and line.source == "API":
        tag = click.style(tag, bold=True)
    text = line.text if colour else click.unstyle(line.text)
    prefix = f"{timestamp(line.timestamp_ns)} " if timestamps and line.timestamp_ns else ""
    return f"{prefix}{tag} {line.app} | {text}"


def parse_rfc3339_ns(stamp: str) -> int:
    """RFC 3339 timestamps with up to nanosecond fractions (Docker's, the kubelet's) as integer ns."""
    base, _, frac = stamp.rstrip("Z").partition(".")
    seconds = datetime.fromisoformat(base + "+00:00").timestamp()
    return int(seconds) * 1_000_000_000 + int((frac + "000000000")[:9])
