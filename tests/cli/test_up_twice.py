"""A second `devloop up` in a project another one runs: one message, and nothing it had set up for
its run left half done (no coroutine left unawaited, no traceback)."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

from devloop.engine.control import socket_path
from devloop.providers.shared import project_id
from tests.helpers import copy_sample


def test_a_second_up_is_one_message_and_leaves_nothing_unawaited(tmp_path: Path) -> None:
    folder = copy_sample("python-web", tmp_path)
    path = socket_path(project_id(folder / "devloop.yaml"))
    path.parent.mkdir(parents=True, exist_ok=True)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as running:  # the first one's socket
        running.bind(str(path))
        running.listen()
        second = subprocess.run(
            [sys.executable, "-m", "devloop", "up", "--no-tui", "--provider", "docker"],
            cwd=folder, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
    path.unlink()
    assert second.returncode == 2, second.stderr
    assert "another devloop up is already running for this project" in second.stderr
    assert "fix: use that one, or stop it first" in second.stderr
    assert "Warning" not in second.stderr and "Traceback" not in second.stderr, second.stderr
