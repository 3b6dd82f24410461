"""The event timeline: engine events in, cf's words out, each said once."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from devloop.core import events as ev
from devloop.core.events import InstanceStatus
from devloop.core.spec import AppSpec
from devloop.core.timeline import Entry, Timeline, decode, encode

WEB = AppSpec("web", Path("/src"), instances=2, memory_mb=256)


def running(index: int = 0, **fields: object) -> InstanceStatus:
    values: dict[str, object] = {"state": "running", "healthy": True, "memory_limit_mb": 256, **fields}
    return InstanceStatus("web", index, f"c{index}", **values)  # type: ignore[arg-type]


def texts(timeline: Timeline, *events: ev.Event) -> list[str]:
    return [entry.text for event in events for entry in timeline.observe(event, 1)]


@pytest.mark.parametrize(
    ("event", "type_", "text"),
    [
        (ev.BuildSucceeded("web", "devloop/web:abc", 2.04, skipped=False), "audit.app.build", "built devloop/web:abc in 2.0s"),
        (ev.BuildFailed("web", "step 3/5 RUN pip install: exit 1\nmore detail"), "audit.app.build.failed",
         "build failed: step 3/5 RUN pip install: exit 1"),
        (ev.DeploySucceeded("web", "devloop/web:abc", "http://web.localhost:8080", 0.0), "audit.app.push",
         "pushed devloop/web:abc"),
        (ev.DeployFailed("web", "devloop/web:abc", "rollout stalled"), "audit.app.push.failed",
         "push of devloop/web:abc failed: rollout stalled"),
        (ev.SyncDone("web", 1), "audit.app.sync", "synced into 1 instance"),
        (ev.SyncFailed("web", ""), "audit.app.sync.failed", "sync failed: (no message)"),
        (ev.ScaleRequested("web", 3), "audit.app.process.scale", "scaled to 3 instances"),
        (ev.ScaleRequested("web", 1, 512), "audit.app.process.scale", "scaled to 1 instance, 512M each"),
        (ev.ScaleRequested("web", 2, process="worker"), "audit.app.process.scale", "scaled worker to 2 instances"),
        (ev.Restarted("web", 2), "audit.app.restart", "restarted 2 instances"),
        (ev.TaskFinished("web", "migrate", 0), "app.task.succeeded", "task migrate succeeded"),
        (ev.TaskFinished("web", "migrate", 3), "app.task.failed", "task migrate failed (exit 3)"),
    ],
)  # fmt: skip
def test_each_event_in_cfs_words(event: ev.Event, type_: str, text: str) -> None:
    (entry,) = Timeline().observe(event, 42)
    assert (entry.app, entry.type, entry.text, entry.time_ns) == ("web", type_, text, 42)


def test_events_that_are_not_news_say_nothing() -> None:
    timeline = Timeline()
    quiet = (ev.BuildStarted("web"), ev.DeployStarted("web", "i"), ev.TriggerRequested("web"),
             ev.BuildSucceeded("web", "devloop/web:abc", 0.1, skipped=True))  # fmt: skip
    assert texts(timeline, *quiet) == []


def test_an_oom_crash_says_so_with_the_limit_once_then_the_platforms_restart() -> None:
    timeline = Timeline()
    assert texts(timeline, ev.InstancesChanged("web", (running(0), running(1)))) == []
    crashed = running(1, state="crashed", healthy=False, oom_killed=True, exit_code=137)
    assert texts(timeline, ev.InstancesChanged("web", (running(0), crashed))) == [
        "instance 1 crashed: out of memory (limit 256M)"
    ]
    assert texts(timeline, ev.InstancesChanged("web", (running(0), crashed))) == []  # said once
    back = running(1, restarts=1)
    assert texts(timeline, ev.InstancesChanged("web", (running(0), back))) == [
        "instance 1 restarted by the platform (1 so far)"
    ]


def test_a_crash_between_two_looks_is_still_told() -> None:
    timeline = Timeline()
    texts(timeline, ev.InstancesChanged("web", (running(0),)))
    again = running(0, restarts=1, exit_code=1)  # crashed and came back before we looked
    assert texts(timeline, ev.InstancesChanged("web", (again,))) == [
        "instance 0 crashed (exit code 1)", "instance 0 restarted by the platform (1 so far)"
    ]


def test_a_failing_health_check_names_the_check() -> None:
    timeline = Timeline(health={"web": "on :8080/health"})
    texts(timeline, ev.InstancesChanged("web", (running(0),)))
    (entry,) = timeline.observe(ev.InstancesChanged("web", (running(0, healthy=False),)), 7)
    assert (entry.type, entry.text, entry.instance) == (
        "app.health.failed", "instance 0 health check failed on :8080/health", "0"
    )


def test_a_config_edit_names_its_fields_but_the_first_spec_is_no_edit() -> None:
    timeline = Timeline()
    assert texts(timeline, ev.SpecChanged("web", WEB)) == []
    edited = dataclasses.replace(WEB, instances=3, memory_mb=512)
    assert texts(timeline, ev.SpecChanged("web", edited)) == ["config changed (instances, memory_mb)"]
    assert texts(timeline, ev.SpecChanged("web", edited)) == []


def test_instances_that_are_gone_are_forgotten_so_a_new_one_is_fresh() -> None:
    timeline = Timeline()
    texts(timeline, ev.InstancesChanged("web", (running(0, restarts=4),)))
    texts(timeline, ev.InstancesChanged("web", ()))
    assert texts(timeline, ev.InstancesChanged("web", (running(0, restarts=5),))) == []


@pytest.mark.parametrize("entry", [Entry(1, "web", "app.crash", "instance 0 crashed", "0"), Entry(2, "api", "x", "")])
def test_an_entry_survives_the_round_trip(entry: Entry) -> None:
    assert decode(encode(entry)) == entry


@pytest.mark.parametrize("text", ["", "{}", '{"time_ns": "soon"}', "nope"])
def test_a_foreign_line_is_no_entry(text: str) -> None:
    assert decode(text) is None


def test_a_saves_stages_are_said_and_kept_in_the_json_round_trip() -> None:
    timed = (("debounce", 20.0), ("copy", 4.0), ("serving", 80.0))
    (entry,) = Timeline().observe(ev.SyncDone("web", 2, timed), 7)
    assert entry.text == "synced into 2 instances in 104 ms (debounce 20, copy 4, serving 80)"
    assert encode(entry).count('"stages_ms":{"debounce":20.0,"copy":4.0,"serving":80.0}') == 1
    assert decode(encode(entry)) == entry
    (pushed,) = Timeline().observe(ev.DeploySucceeded("web", "devloop/web:a", None, 0.0, None, timed), 7)
    assert pushed.text == "pushed devloop/web:a, 104 ms (debounce 20, copy 4, serving 80) from the save"
