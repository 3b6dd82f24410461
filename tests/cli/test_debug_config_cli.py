"""`devloop debug-config` as a user runs it, with no `devloop up` running: the stable ports it will
use, a launch.json merged (never a file it cannot read replaced without --force)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from devloop.core import debug
from devloop.providers.shared import project_id

CONFIG = """\
version: 1
provider: docker
apps:
  - {name: web, path: ., language: python, instances: 2}
"""


def devloop(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "devloop", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=60, env={**os.environ})  # fmt: skip


def test_debug_config_prints_and_writes_the_attach_settings(tmp_path: Path) -> None:
    (tmp_path / "devloop.yaml").write_text(CONFIG)
    (tmp_path / "app.py").write_text("print(1)\n")
    port = debug.debug_port(project_id(tmp_path / "devloop.yaml"), "web", "1", lambda _p: True)
    printed = devloop("debug-config", cwd=tmp_path)
    assert printed.returncode == 0, printed.stderr
    assert f"web/1 (debugpy): host 127.0.0.1 port {port}, path mapping . -> /app" in printed.stdout
    assert "no `devloop up --debug` runs here" in printed.stderr
    launch = tmp_path / ".vscode" / "launch.json"
    launch.parent.mkdir()
    launch.write_text('{"configurations": [{"name": "mine", "type": "node", "request": "launch"}]}')
    wrote = devloop("debug-config", "--vscode", cwd=tmp_path)
    assert wrote.returncode == 0, wrote.stderr
    names = [c["name"] for c in json.loads(launch.read_text())["configurations"]]
    assert names == ["mine", "devloop: web/0 (debugpy)", "devloop: web/1 (debugpy)"]
    launch.write_text("{ // a comment\n}")
    refused = devloop("debug-config", "--vscode", cwd=tmp_path)
    assert refused.returncode == 2 and "--force" in refused.stderr and "Traceback" not in refused.stderr
    assert launch.read_text() == "{ // a comment\n}"
    assert devloop("debug-config", "--vscode", "--force", cwd=tmp_path).returncode == 0
    assert len(json.loads(launch.read_text())["configurations"]) == 2
