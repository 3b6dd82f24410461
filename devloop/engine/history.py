"""Every log line of a project kept on disk, size-capped, so `devloop logs --recent` outlives pods.

A platform forgets: a redeploy replaces the pods, a deleted container takes its log with it,
the kubelet rotates files, and devloop's own buffer ends with the process. Cloud Foundry's
`cf logs --recent` answers from the Loggregator's store instead; this is that store, locally.
Lines go to a Journal (capped JSON-lines segments, user-only) in the project's state folder;
known secret values are masked before a line reaches the disk.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

from devloop.core.credentials import MASK
from devloop.core.logbuffer import LogLine
from devloop.engine.journal import Journal

CAP_BYTES = 16 * 1024 * 1024  # per project: about 100,000 lines of 160 bytes
MIN_SECRET_LEN = 4  # masking "1" or "no" would mangle every line


def encode(line: LogLine) -> str:
    """One line of the segment file: short keys, since the history holds many of them."""
    record: dict[str, object] = {"ts": line.timestamp_ns, "a": line.app, "s": line.source, "t": line.text}
    if line.instance is not None:
        record["i"] = line.instance
    if line.container:
        record["c"] = line.container
    if line.process:
        record["p"] = line.process
    return json.dumps(record, ensure_ascii=False, separators=(",", ":"))


def decode(text: str) -> LogLine | None:
    """The LogLine of one stored line; None for a torn or foreign line."""
    try:
        record = json.loads(text)
        return LogLine(
            app=str(record["a"]),
            source=str(record["s"]),
            text=str(record["t"]),
            instance=int(record["i"]) if "i" in record else None,
            container=str(record.get("c", "")),
            timestamp_ns=int(record["ts"]),
            process=str(record.get("p", "")),
        )
    except (ValueError, KeyError, TypeError):
        return None


def mask_order(secrets: Iterable[str]) -> tuple[str, ...]:
    """The secrets worth masking, longest first (one may hold another): worked out once per set,
    not once per line."""
    return tuple(sorted({s for s in secrets if len(s) >= MIN_SECRET_LEN}, key=len, reverse=True))


def masked(text: str, ordered: tuple[str, ...]) -> str:
    """`text` with every secret of `ordered` (from mask_order) replaced by the mask."""
    for secret in ordered:
        if secret in text:
            text = text.replace(secret, MASK)
    return text


class LogHistory:
    """A project's log lines on disk: stamped, masked, capped (a Journal of LogLines)."""

    def __init__(self, folder: Path, cap_bytes: int = CAP_BYTES, secrets: Iterable[str] = ()) -> None:
        self.journal = Journal(folder, cap_bytes, encode, decode)
        self.secrets = mask_order(secrets)

    def set_secrets(self, secrets: Iterable[str]) -> None:
        """The values to mask from now on (a reload may bring new ones)."""
        self.secrets = mask_order(secrets)

    def append(self, line: LogLine) -> None:
        """Store one line, stamped now when its platform gave no time."""
        if not line.timestamp_ns:
            line = dataclasses.replace(line, timestamp_ns=time.time_ns())
        self.journal.append(with_text(line, masked(line.text, self.secrets)))

    def flush(self) -> None:
        self.journal.flush()

    def close(self) -> None:
        self.journal.close()

    def lines(self, since_ns: int | None = None) -> Iterator[LogLine]:
        """Every stored line, oldest first, from `since_ns` on when given."""
        return (line for line in self.journal.records() if since_ns is None or line.timestamp_ns >= since_ns)


def merge_recent(
    stored: Iterable[LogLine], tailed: Iterable[LogLine], secrets: Iterable[str] = ()
) -> list[LogLine]:
    """The history and what the platform still holds, as one timeline with no line twice: a line
    both have (same instance, time and text, masked alike) is the same line."""
    ordered = mask_order(secrets)
    seen: set[tuple[str, int, str]] = set()
    merged: list[LogLine] = []
    for line in [*stored, *(with_text(line, masked(line.text, ordered)) for line in tailed)]:
        key = (line.container, line.timestamp_ns, line.text)
        if line.container and key in seen:
            continue
        seen.add(key)
        merged.append(line)
    merged.sort(key=lambda line: line.timestamp_ns)
    return merged


def with_text(line: LogLine, text: str) -> LogLine:
    return line if text == line.text else dataclasses.replace(line, text=text)
