"""`--tail N` over the merged history: the last N lines of each instance, in order."""

from __future__ import annotations

from devloop.cli.logs import last_of_each
from devloop.core.logbuffer import LogLine


def test_the_last_lines_of_each_instance_and_of_devloop_s_own_sources() -> None:
    lines = [
        LogLine("web", "APP", "a1", 0, "c0", 1),
        LogLine("web", "APP", "b1", 1, "c1", 2),
        LogLine("web", "API", "pushed", None, "", 3),
        LogLine("web", "APP", "a2", 0, "c0", 4),
        LogLine("web", "APP", "a3", 0, "c0", 5),
        LogLine("api", "API", "pushed", None, "", 6),
        LogLine("web", "API", "scaled", None, "", 7),
    ]
    assert [line.text for line in last_of_each(lines, 1)] == ["b1", "a3", "pushed", "scaled"]
    assert [line.text for line in last_of_each(lines, 2)] == ["b1", "pushed", "a2", "a3", "pushed", "scaled"]
    assert last_of_each(lines, 0) == []
