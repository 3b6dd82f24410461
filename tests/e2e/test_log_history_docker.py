"""`devloop logs --recent` from the on-disk history: every line once, after Ctrl-C and `devloop down` too."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.e2e.scenario import up_serving
from tests.e2e.test_commands import run_devloop
from tests.helpers import http_get

pytestmark = pytest.mark.docker
PROBES = 6


def probe_counts(text: str) -> list[int]:
    """How often each probe request's app line appears in `text`."""
    return [len(re.findall(rf"\[APP/\d\] web \| instance \d: GET /probe-{n} 200", text)) for n in range(PROBES)]


def test_recent_lines_outlive_the_instances_and_devloop_with_no_line_twice(python_web: Path) -> None:
    with up_serving(python_web) as (up, url):
        for n in range(PROBES):
            assert http_get(f"{url}/probe-{n}") is not None
        up.wait_for(rf"^\[APP/\d\] web \| instance \d: GET /probe-{PROBES - 1} 200")
        running = run_devloop(python_web, "logs", "--recent")
        assert running.returncode == 0, running.stderr
        assert probe_counts(running.stdout) == [1] * PROBES  # history and platform merged, none twice

    assert run_devloop(python_web, "down").returncode == 0  # the containers, and their logs, are gone
    after = run_devloop(python_web, "logs", "--recent")
    assert after.returncode == 0, after.stderr
    assert probe_counts(after.stdout) == [1] * PROBES
    assert re.search(r"^\[API\] web \| ", after.stdout, re.M)  # devloop's own lines are kept too
    tail = run_devloop(python_web, "logs", "--recent", "--tail", "1")
    assert tail.stdout.count("\n") <= 6  # one line per instance and per devloop source, not the history

    # The timeline is kept too, in cf's words; `devloop events` needs no running up or instance.
    events = json.loads(run_devloop(python_web, "events", "--json").stdout)
    assert "audit.app.push" in [e["type"] for e in events if e["app"] == "web"]  # (a build only if one ran)
    assert re.search(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d  web  pushed \S*devloop/web:",
                     run_devloop(python_web, "events", "web").stdout, re.M)  # fmt: skip
