"""Records kept on disk as JSON lines in capped segment files, the oldest segment dropped first.

The log history and the event timeline both need the same thing: a bounded per-project store
that outlives pods, containers and devloop itself, written by one process and read by others
(`devloop logs`, `devloop events`). Files are the user's only. A torn last line (a crash
mid-write) is skipped on reading and never glued to the next record.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Generic, TypeVar

from devloop.fs import private_dir

T = TypeVar("T")
SEGMENTS = 4  # the cap is spread over this many files, so dropping the oldest frees a quarter


class Journal(Generic[T]):
    """Appends records to capped segment files and reads them back oldest first."""

    def __init__(
        self, folder: Path, cap_bytes: int, encode: Callable[[T], str], decode: Callable[[str], T | None]
    ) -> None:
        self.folder = folder
        self.segment_cap = max(1, cap_bytes // SEGMENTS)
        self._encode = encode
        self._decode = decode
        self._out: IO[str] | None = None
        self._size = 0

    def append(self, record: T) -> None:
        text = self._encode(record) + "\n"
        size = len(text.encode())
        self._segment(size).write(text)
        self._size += size

    def flush(self) -> None:
        if self._out is not None:
            self._out.flush()

    def close(self) -> None:
        if self._out is not None:
            self._out.close()
            self._out = None

    def records(self) -> Iterator[T]:
        """Every stored record, oldest first; torn or foreign lines left out."""
        self.flush()
        for segment in self._segments():
            try:
                with segment.open(encoding="utf-8", errors="replace") as handle:
                    for text in handle:
                        record = self._decode(text)
                        if record is not None:
                            yield record
            except FileNotFoundError:  # dropped by the writer while we read: its records were the oldest
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
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        os.fchmod(fd, 0o600)
        self._out = os.fdopen(fd, "a", encoding="utf-8")
        self._size = path.stat().st_size
        if self._size and not _ends_with_newline(path):
            self._out.write("\n")  # a crash left half a record: ours must not be glued to it
            self._size += 1
        return self._out


def _ends_with_newline(path: Path) -> bool:
    with path.open("rb") as handle:
        handle.seek(-1, os.SEEK_END)
        return handle.read(1) == b"\n"
