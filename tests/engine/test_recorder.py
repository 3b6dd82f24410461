"""The recorder of a running up: lines and events on disk, secrets masked, a reload's secrets too."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from devloop.core import events as ev
from devloop.core.credentials import MASK
from devloop.core.events import InstanceStatus
from devloop.core.logbuffer import LogLine
from devloop.core.spec import AppSpec, ProjectSpec
from devloop.core.state import EngineState
from devloop.engine.recorder import Recorder, event_journal, logs_dir

WEB = AppSpec("web", Path("/src"), port=8080, secret_env=(("API_TOKEN", "tok-123456"),))
STATE = EngineState.initial((WEB,), False)


def test_lines_and_events_reach_the_disk_with_the_secrets_masked(tmp_path: Path) -> None:
    recorder = Recorder(ProjectSpec(tmp_path / "devloop.yaml", (WEB,)), tmp_path, "p-1")
    recorder.line(LogLine("web", "APP", "calling with tok-123456", 0, "c0", 5))
    recorder.event(STATE, ev.DeployFailed("web", "devloop/web:1", "bad token tok-123456"))
    recorder.close()
    on_disk = "".join(p.read_text() for p in tmp_path.rglob("*.jsonl"))
    assert "tok-123456" not in on_disk and MASK in on_disk
    (entry,) = event_journal(tmp_path, "p-1").records()
    assert entry.text == f"push of devloop/web:1 failed: bad token {MASK}"
    assert logs_dir(tmp_path, "p-1").is_dir()


def test_a_reloaded_spec_brings_its_new_secret_and_health_check(tmp_path: Path) -> None:
    recorder = Recorder(ProjectSpec(tmp_path / "devloop.yaml", (WEB,)), tmp_path, "p-1")
    edited = dataclasses.replace(WEB, secret_env=(("API_TOKEN", "new-secret-value"),), port=9090)
    recorder.event(STATE, ev.SpecChanged("web", edited))
    recorder.line(LogLine("web", "APP", "now new-secret-value", 0, "c0", 6))
    healthy = InstanceStatus("web", 0, "c0", "running", healthy=True)
    recorder.event(STATE, ev.InstancesChanged("web", (healthy,)))
    recorder.event(STATE, ev.InstancesChanged("web", (dataclasses.replace(healthy, healthy=False),)))
    recorder.close()
    assert [line.text for line in recorder.history.lines()] == [f"now {MASK}"]
    texts = [entry.text for entry in event_journal(tmp_path, "p-1").records()]
    assert texts[-1] == "instance 0 health check failed on port 9090"
