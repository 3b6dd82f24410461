"""The on-disk log history: capped, user-only, masked, readable after a crash and a restart."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from devloop.core.credentials import MASK
from devloop.core.logbuffer import LogLine
from devloop.engine.history import LogHistory, decode, encode, merge_recent


def line(n: int, text: str | None = None, container: str = "c0", app: str = "web") -> LogLine:
    return LogLine(app, "APP", text if text is not None else f"line {n}", 0, container, 1_000 + n)


@pytest.mark.parametrize(
    "original",
    [
        line(1),
        LogLine("web", "API", "pushed", None, "", 5),
        LogLine("web", "APP", "tab\tand \"quotes\" and ünïcode", 2, "abc", 7, "worker"),
        LogLine("web", "RTR", "", None, "", 9),
    ],
)
def test_a_line_survives_the_round_trip(original: LogLine) -> None:
    assert decode(encode(original)) == original


@pytest.mark.parametrize("stored", ["", "{", '{"a": "web"}', "not json", '{"ts": "x", "a": 1, "s": 2, "t": 3}'])
def test_a_torn_or_foreign_line_is_skipped(stored: str) -> None:
    assert decode(stored) is None


def test_lines_come_back_in_order_after_a_restart(tmp_path: Path) -> None:
    first = LogHistory(tmp_path / "logs")
    for n in range(5):
        first.append(line(n))
    first.close()  # devloop stops
    second = LogHistory(tmp_path / "logs")  # and starts again: it goes on in the same files
    for n in range(5, 8):
        second.append(line(n))
    assert [entry.text for entry in second.lines()] == [f"line {n}" for n in range(8)]
    assert [entry.text for entry in LogHistory(tmp_path / "logs").lines(since_ns=1_006)] == ["line 6", "line 7"]


def test_the_history_stays_under_its_cap_and_keeps_the_newest(tmp_path: Path) -> None:
    folder = tmp_path / "logs"
    history = LogHistory(folder, cap_bytes=8_000)
    for n in range(2_000):
        history.append(line(n, f"line {n:05d} " + "x" * 40))
    history.flush()
    assert sum(p.stat().st_size for p in folder.glob("*.jsonl")) <= 8_000
    kept = [entry.text.split()[1] for entry in history.lines()]
    assert kept[-1] == "01999" and kept == sorted(kept)  # the newest kept, in order, no gap inside
    assert len(kept) == int(kept[-1]) - int(kept[0]) + 1
    assert kept[0] != "00000"  # the oldest went


def test_files_are_the_users_only(tmp_path: Path) -> None:
    folder = tmp_path / "state" / "p" / "logs"
    history = LogHistory(folder)
    history.append(line(1))
    history.flush()
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in folder.glob("*.jsonl"))


def test_secret_values_never_reach_the_disk(tmp_path: Path) -> None:
    folder = tmp_path / "logs"
    history = LogHistory(folder, secrets=["hunter2-secret", "no"])  # too short to mask: "no" stays
    history.append(line(1, "connecting with password hunter2-secret, no retry"))
    history.close()
    on_disk = "".join(p.read_text() for p in folder.glob("*.jsonl"))
    assert "hunter2-secret" not in on_disk
    assert [entry.text for entry in history.lines()] == [f"connecting with password {MASK}, no retry"]


def test_a_torn_last_line_after_a_crash_is_skipped_and_writing_goes_on(tmp_path: Path) -> None:
    folder = tmp_path / "logs"
    history = LogHistory(folder)
    history.append(line(1))
    history.close()
    (segment,) = folder.glob("*.jsonl")
    with segment.open("a") as handle:
        handle.write('{"ts": 1002, "a": "web", "s": "AP')  # the process died mid-write
    after = LogHistory(folder)
    after.append(line(3))
    assert [entry.text for entry in after.lines()] == ["line 1", "line 3"]


def test_recent_lines_and_the_platforms_tail_merge_with_no_line_twice() -> None:
    stored = [line(1), line(2), line(3, container="c1")]
    tailed = [line(2), line(3, container="c1"), line(4)]  # the platform still has some of them
    assert [entry.text for entry in merge_recent(stored, tailed)] == ["line 1", "line 2", "line 3", "line 4"]


def test_the_same_text_at_another_time_or_instance_is_another_line() -> None:
    stored = [line(1, "ok")]
    tailed = [line(2, "ok"), line(1, "ok", container="c1")]
    assert len(merge_recent(stored, tailed)) == 3


def test_a_tailed_line_with_a_secret_matches_its_masked_stored_copy() -> None:
    stored = [line(1, f"token {MASK}")]
    tailed = [line(1, "token abcd-1234")]
    assert [entry.text for entry in merge_recent(stored, tailed, secrets=["abcd-1234"])] == [f"token {MASK}"]
