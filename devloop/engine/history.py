"""Every log line of a project kept on disk, size-capped, so `devloop logs --recent` outlives pods.

A platform forgets: a redeploy replaces the pods, a deleted container takes its log with it,
the kubelet rotates files, and devloop's own buffer ends with the process. Cloud Foundry's
`cf logs --recent` answers from the Loggregator's store instead; this is that store, locally.
Lines go to JSON-lines segment files in the project's state folder (user-only, like every file
devloop writes for itself); the oldest segment goes once the total passes the cap. Known secret
values are masked before a line reaches the disk. A torn last line (a crash mid-write) is skipped
on reading, never an error.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO

from devloop.core.credentials import MASK
from devloop.core.logbuffer import LogLine
from devloop.fs import private_dir

CAP_BYTES = 16 * 1024 * 1024  # per project: about 100,000 lines of 160 bytes
SEGMENTS = 4  # the cap is spread over this many files, so dropping the oldest frees a quarter
MIN_SECRET_LEN = 4  # masking "1" or "no" would mangle every line


def history_dir(state: Path, project_id: str) -> Path:
    """Where a project's log history lives under devloop's state folder."""
    return state / project_id / "logs"


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


def masked(text: str, secrets: Iterable[str]) -> str:
    """`text` with every known secret value replaced by the mask, longest first (one may hold another)."""
    for secret in sorted({s for s in secrets if len(s) >= MIN_SECRET_LEN}, key=len, reverse=True):
        text = text.replace(secret, MASK)
    return text


class LogHistory:
    """Appends a project's lines to capped segment files and reads them back oldest first."""

    def __init__(self, folder: Path, cap_bytes: int = CAP_BYTES, secrets: Iterable[str] = ()) -> None:
        self.folder = folder
        self.segment_cap = max(1, cap_bytes // SEGMENTS)
        self.secrets = tuple(secrets)
        self._out: IO[str] | None = None
        self._size = 0

    def set_secrets(self, secrets: Iterable[str]) -> None:
        """The values to mask from now on (a reload may bring new ones)."""
        self.secrets = tuple(secrets)

    def append(self, line: LogLine) -> None:
        """Store one line, stamped now when its platform gave no time."""
        if not line.timestamp_ns:
            line = dataclasses.replace(line, timestamp_ns=time.time_ns())
        line = with_text(line, masked(line.text, self.secrets))
        record = encode(line) + "\n"
        out = self._segment(len(record.encode()))
        out.write(record)
        self._size += len(record.encode())

    def flush(self) -> None:
        if self._out is not None:
            self._out.flush()

    def close(self) -> None:
        if self._out is not None:
            self._out.close()
            self._out = None

    def lines(self, since_ns: int | None = None) -> Iterator[LogLine]:
        """Every stored line, oldest segment first, from `since_ns` on when given."""
        self.flush()
        for segment in self._segments():
            try:
                with segment.open(encoding="utf-8", errors="replace") as handle:
                    for text in handle:
                        line = decode(text)
                        if line is not None and (since_ns is None or line.timestamp_ns >= since_ns):
                            yield line
            except FileNotFoundError:  # dropped by the writer while we read: its lines were the oldest
                continue

    def _segments(self) -> list[Path]:
        if not self.folder.is_dir():
            return []
        return sorted(self.folder.glob("*.jsonl"), key=lambda p: int(p.stem) if p.stem.isdigit() else -1)

    def _segment(self, incoming: int) -> IO[str]:
        """The open segment, a new one when it would pass its share of the cap (the oldest dropped)."""
        if self._out is not None and self._size + incoming <= self.segment_cap:
            return self._out
        private_dir(self.folder)
        segments = self._segments()
        if self._out is None and segments and segments[-1].stat().st_size + incoming <= self.segment_cap:
            path = segments[-1]  # a restarted devloop goes on where the last one stopped
        else:
            self.close()
            number = int(segments[-1].stem) + 1 if segments and segments[-1].stem.isdigit() else 0
            path = self.folder / f"{number:08d}.jsonl"
            segments.append(path)
        for old in segments[: max(0, len(segments) - SEGMENTS)]:
            old.unlink(missing_ok=True)
        if self._out is not None:
            self._out.close()
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        os.fchmod(fd, 0o600)
        self._out = os.fdopen(fd, "a", encoding="utf-8")
        self._size = path.stat().st_size
        if self._size and not _ends_with_newline(path):
            self._out.write("\n")  # a crash left half a line: ours must not be glued to it
            self._size += 1
        return self._out


def _ends_with_newline(path: Path) -> bool:
    with path.open("rb") as handle:
        handle.seek(-1, os.SEEK_END)
        return handle.read(1) == b"\n"


def merge_recent(
    stored: Iterable[LogLine], tailed: Iterable[LogLine], secrets: Iterable[str] = ()
) -> list[LogLine]:
    """The history and what the platform still holds, as one timeline with no line twice: a line
    both have (same instance, time and text, masked alike) is the same line."""
    secrets = tuple(secrets)
    seen: set[tuple[str, int, str]] = set()
    merged: list[LogLine] = []
    for line in [*stored, *(with_text(line, masked(line.text, secrets)) for line in tailed)]:
        key = (line.container, line.timestamp_ns, line.text)
        if line.container and key in seen:
            continue
        seen.add(key)
        merged.append(line)
    merged.sort(key=lambda line: line.timestamp_ns)
    return merged


def with_text(line: LogLine, text: str) -> LogLine:
    return line if text == line.text else dataclasses.replace(line, text=text)
