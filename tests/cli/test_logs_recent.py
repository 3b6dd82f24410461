"""`--tail N` over the merged history: the last N lines of each instance, in order; the history with no cluster."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from devloop.cli.logs import last_of_each
from devloop.core.logbuffer import LogLine
from devloop.engine.history import LogHistory
from devloop.engine.recorder import logs_dir
from devloop.providers.shared import project_id
from tests.conftest import FAKE_BIN
from tests.helpers import copy_sample


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


def test_recent_on_kind_with_no_cluster_is_the_history(tmp_path: Path) -> None:
    """The cluster (and so every pod) is gone: `logs --recent` still prints what devloop kept, and
    `--recent -f` would follow; no cluster is created for it (the fake kind records every call)."""
    folder = copy_sample("python-web", tmp_path)
    state = tmp_path / "state"
    env = {**os.environ, "XDG_STATE_HOME": str(state), "FAKE_KIND_STATE": str(tmp_path / "kind"),
           "PATH": f"{FAKE_BIN}{os.pathsep}{os.environ['PATH']}", "XDG_CACHE_HOME": str(tmp_path / "cache")}  # fmt: skip
    (tmp_path / "kind").mkdir()
    history = LogHistory(logs_dir(state / "devloop", project_id(folder / "devloop.yaml")))
    history.append(LogLine("web", "APP", "served before the cluster went", 0, "web-7d9-abc", 1_000))
    history.close()
    done = subprocess.run([sys.executable, "-m", "devloop", "logs", "--recent", "--provider", "kind"], cwd=folder,
                          env=env, capture_output=True, text=True, timeout=60)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["[APP/0] web | served before the cluster went"]
    calls = (tmp_path / "kind" / "calls").read_text()
    assert '"get", "clusters"' in calls and '"create"' not in calls
