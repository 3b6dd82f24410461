"""`devloop task` and before-start tasks on the docker provider, end to end on the real engine.

A tiny app on the local busybox stand-in (nothing to build, nothing pulled): a task's output is
tagged `[APP/TASK/N]`, carries the app's env with its secrets masked, ends with the task's exit
code, is in `devloop events`; Ctrl-C leaves no container; a failing before-start task holds the app.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from devloop.adapters.dockersdk import open_engine
from devloop.core.credentials import MASK
from devloop.providers.docker.tasks import LABEL_TASK
from devloop.providers.shared import project_id
from tests.devloop_process import DevloopProcess
from tests.helpers import wait_until

pytestmark = pytest.mark.docker
CONFIG = """
provider: docker
apps:
  - name: web
    image: busybox:1.36
    pull: never
    command: "while true; do sleep 1; done"
    env_file: .env
    env: {GREETING: hello}
    health_check: {type: process}
    no_route: true
    tasks:
      - {name: migrate, command: "echo migrating; echo boom >&2; exit 4", before_start: %s}
"""


def devloop(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "devloop", *args], cwd=folder, capture_output=True,
                          text=True, timeout=120)  # fmt: skip


def project(folder: Path, before_start: bool) -> Path:
    folder.mkdir()
    (folder / "devloop.yaml").write_text(textwrap.dedent(CONFIG % str(before_start).lower()))
    (folder / ".env").write_text("TOKEN=tok-s3cr3t-value\n")
    return folder


def containers(folder: Path, label: str) -> list[str]:
    engine = open_engine()
    try:
        return [c.name for c in engine.containers([f"devloop.project={project_id(folder / 'devloop.yaml')}",
                                                   label])]  # fmt: skip
    finally:
        engine.close()


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Path]:
    folder = project(tmp_path / "tasks-app", before_start=False)
    yield folder
    devloop(folder, "down")


def test_a_task_runs_with_the_apps_env_tagged_and_exits_with_its_code(app: Path) -> None:
    done = devloop(app, "task", "web", "--", "sh", "-c", "echo hi $GREETING; echo $TOKEN; echo $VCAP_SERVICES; exit 3")
    assert done.returncode == 3, done.stderr
    lines = done.stdout.splitlines()
    name = lines[0].split("/")[2].split("]")[0]  # the generated name: eight hex digits
    assert len(name) == 8 and int(name, 16) >= 0
    assert lines == [f"[APP/TASK/{name}] web | hi hello", f"[APP/TASK/{name}] web | {MASK}",
                     f"[APP/TASK/{name}] web | {{}}"]  # fmt: skip
    assert "tok-s3cr3t-value" not in done.stdout + done.stderr
    assert f"task {name} failed (exit 3)" in done.stderr
    assert containers(app, LABEL_TASK) == []  # removed after it ended
    events = json.loads(devloop(app, "events", "--json").stdout)
    assert [(e["type"], e["text"]) for e in events] == [("app.task.failed", f"task {name} failed (exit 3)")]
    recent = devloop(app, "logs", "--recent").stdout
    assert f"[APP/TASK/{name}] web | hi hello" in recent and "tok-s3cr3t-value" not in recent

    named = devloop(app, "task", "web", "--name", "migrate")  # a task of the config, by its name
    assert named.returncode == 4 and "[APP/TASK/migrate] web | migrating" in named.stdout
    assert "[APP/TASK/migrate] web | boom" in named.stdout  # stderr is output too, as cf logs it


def test_ctrl_c_stops_the_task_and_leaves_no_container(app: Path) -> None:
    task = DevloopProcess("task", "web", "--name", "nap", "--", "echo started; sleep 60", cwd=app)
    try:
        task.wait_for(r"\[APP/TASK/nap\] web \| started", timeout=60)
        assert len(containers(app, LABEL_TASK)) == 1
        assert task.interrupt(timeout=30) == 130
    finally:
        task.kill()
    assert containers(app, LABEL_TASK) == []
    # `devloop down web` takes its running tasks with it, as `cf delete` does; the run says so.
    task = DevloopProcess("task", "web", "--name", "nap", "--", "echo started; sleep 60", cwd=app)
    try:
        task.wait_for(r"\[APP/TASK/nap\] web \| started", timeout=60)
        assert devloop(app, "down", "web").returncode == 0
        task.wait_for(r"error: task nap: its container was removed", timeout=30)
        assert task.proc.wait(30) == 6
    finally:
        task.kill()
    assert containers(app, LABEL_TASK) == []


def test_a_failing_before_start_task_holds_the_app(tmp_path: Path) -> None:
    folder = project(tmp_path / "held-app", before_start=True)
    try:
        pushed = devloop(folder, "push")
        assert pushed.returncode == 6, pushed.stdout + pushed.stderr
        out = pushed.stdout
        assert "[APP/TASK/migrate] web | migrating" in out
        assert "deploy failed: before-start task migrate failed (exit 4): web is not started" in out
        assert "[API] web |   boom" in out  # its last lines, with the failure
        wait_until(lambda: containers(folder, LABEL_TASK) == [] or None, timeout=10, what="the task removed")
        assert containers(folder, "devloop.app=web") == []  # no instance was started
    finally:
        devloop(folder, "down")
