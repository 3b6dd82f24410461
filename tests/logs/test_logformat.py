"""Log filters and output formats (pure)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import replace

import pytest

from devloop.core.logbuffer import LogBuffer, LogLine, colour_for
from devloop.core.logformat import LogFilter, format_line, parse_duration

LINE = LogLine("web", "APP", "\x1b[32mGET /\x1b[0m 200", 1, "abc123", 1_763_744_400_123_000_000)


@pytest.mark.parametrize(
    ("flt", "shown"),
    [
        (LogFilter(), True),
        (LogFilter(apps=frozenset({"web"})), True),
        (LogFilter(apps=frozenset({"worker"})), False),
        (LogFilter(include=(re.compile("GET"),)), True),
        (LogFilter(include=(re.compile("POST"),)), False),
        (LogFilter(exclude=(re.compile("200"),)), False),
        (LogFilter(container="abc"), True),
        (LogFilter(container="zzz"), False),
        (LogFilter(sources=frozenset({"STG"})), False),
    ],
)
def test_filters(flt: LogFilter, shown: bool) -> None:
    assert flt.matches(LINE) is shown


def test_formats() -> None:
    assert format_line(LINE) == "[APP/1] web | GET / 200"
    assert format_line(LINE, timestamps=True) == "2025-11-21T17:00:00.123Z [APP/1] web | GET / 200"
    assert format_line(LINE, "raw") == "GET / 200"
    assert format_line(LINE, "raw", colour=True) == LINE.text  # the app's own colours kept
    coloured = format_line(LINE, colour=True)
    assert "\x1b[" in coloured and "\x1b[32mGET /" in coloured
    data = json.loads(format_line(LINE, "json"))
    assert data == {"app": "web", "source": "APP", "instance": 1, "process": "web", "container": "abc123",
                    "timestamp": "2025-11-21T17:00:00.123Z", "text": "GET / 200"}  # fmt: skip


def test_a_worker_and_a_sidecar_are_tagged_and_coloured_apart_from_web() -> None:
    worker = replace(LINE, process="worker")
    sidecar = replace(LINE, process="stats")
    assert format_line(worker) == "[APP/worker/1] web | GET / 200"
    assert format_line(sidecar) == "[APP/stats/1] web | GET / 200"
    assert json.loads(format_line(worker, "json"))["process"] == "worker"
    assert len({LINE.colour_key, worker.colour_key, sidecar.colour_key}) == 3


@pytest.mark.parametrize(
    ("text", "seconds"), [("30s", 30), ("5m", 300), ("2h", 7200), ("1d", 86400), ("90", 90)]
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


def test_bad_duration() -> None:
    with pytest.raises(ValueError, match=r"use e\.g\. 30s"):
        parse_duration("soon")


def test_colours_are_stable_across_runs() -> None:
    # crc32, not hash(): another process with another hash seed picks the same colours.
    keys = [f"app{i}/{j}" for i in range(5) for j in range(3)]
    code = f"from devloop.core.logbuffer import colour_for; print(','.join(colour_for(k) for k in {keys!r}))"
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                           env={**os.environ, "PYTHONHASHSEED": "12345"})  # fmt: skip
    assert other.stdout.strip().split(",") == [colour_for(k) for k in keys]
    assert len(set(other.stdout.strip().split(","))) > 3  # and they differ between instances


def test_buffer_is_bounded_per_app() -> None:
    buffer = LogBuffer(per_app=100)
    for i in range(1000):
        buffer.add(LogLine("web", "APP", str(i)))
        buffer.add(LogLine("api", "APP", str(i)))
    assert len(buffer) == 200
    assert [line.text for line in buffer.lines("web")][:2] == ["900", "901"]


def test_container_matches_an_id_or_a_name_prefix() -> None:
    """`--container NAME`: "Only this container (id or name prefix)", as its help says."""
    flt = LogFilter(container="devloop-web-3f2a")
    assert flt.matches(LINE, "devloop-web-3f2a1b-1") and not flt.matches(LINE, "devloop-web-99aa00-0")
    assert not flt.matches(LINE)  # the id alone does not start with it
    assert LogFilter(container="abc1").matches(LINE, "devloop-web-3f2a1b-1")  # an id prefix still works
