"""What happened to each app, in Cloud Foundry's words, as `cf events` shows it. Pure.

The engine's events say what it is doing (a build started, instances changed); a user asks
what happened: pushed, build failed, instance 1 crashed: out of memory (limit 256M), health
check failed, scaled to 3, restarted. `Timeline.observe` turns the first into the second,
remembering only the last instances it saw, so nothing here needs the platform to still hold
the pod. Event types follow cf's (`audit.app.*`, `app.crash`), so the JSON reads as cf's does.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from devloop.core import events as ev
from devloop.core.events import InstanceStatus
from devloop.core.spec import AppSpec
from devloop.core.specdiff import changed_fields
from devloop.core.stages import Stages, describe
from devloop.core.wording import crash_text, instance_changes


@dataclass(frozen=True)
class Entry:
    time_ns: int
    app: str
    type: str  # cf's event type: audit.app.build, app.crash, audit.app.process.scale, ...
    text: str  # what `devloop events` prints after the time
    instance: str = ""  # the instance's label (`0`, `worker/1`) when it is about one
    stages: Stages = ()  # a save's stages (ms each), for a sync or a push that a save caused

    def to_json(self) -> dict[str, object]:
        record: dict[str, object] = {"time_ns": self.time_ns, "app": self.app, "type": self.type,
                                     "text": self.text, "instance": self.instance or None}  # fmt: skip
        if self.stages:
            record["stages_ms"] = dict(self.stages)
        return record


def event_line(entry: Entry, app_width: int = 0) -> str:
    """`2026-12-01 23:40:09  web  instance 1 crashed: out of memory (limit 256M)`, in local time."""
    when = datetime.fromtimestamp(entry.time_ns / 1e9).strftime("%Y-%m-%d %H:%M:%S")
    return f"{when}  {entry.app:<{app_width}}  {entry.text}"


def encode(entry: Entry) -> str:
    return json.dumps(entry.to_json(), ensure_ascii=False, separators=(",", ":"))


def decode(text: str) -> Entry | None:
    try:
        record = json.loads(text)
        timed = record.get("stages_ms") or {}
        stages = tuple((str(stage), float(ms)) for stage, ms in timed.items())
        return Entry(int(record["time_ns"]), str(record["app"]), str(record["type"]), str(record["text"]),
                     str(record.get("instance") or ""), stages)  # fmt: skip
    except (ValueError, KeyError, TypeError):
        return None


class Timeline:
    """Engine events in, timeline entries out; `health` names each app's check (`on :8080/health`)."""

    def __init__(self, health: Mapping[str, str] | None = None) -> None:
        self.health = dict(health or {})
        self._instances: dict[str, InstanceStatus] = {}  # InstanceStatus.key -> last seen
        self._specs: dict[str, AppSpec] = {}

    def observe(self, event: ev.Event, now_ns: int) -> list[Entry]:
        def one(app: str, type_: str, text: str, instance: str = "", stages: Stages = ()) -> list[Entry]:
            return [Entry(now_ns, app, type_, text, instance, stages)]

        match event:
            case ev.BuildSucceeded(skipped=True):
                return []  # the image was up to date: nothing was built
            case ev.BuildSucceeded(app=app, image=image, duration_s=seconds):
                return one(app, "audit.app.build", f"built {image} in {seconds:.1f}s")
            case ev.BuildFailed(app=app, message=message):
                return one(app, "audit.app.build.failed", f"build failed: {first_line(message)}")
            case ev.DeploySucceeded(app=app, image=image, stages=timed):
                took = f", {describe(timed)} from the save" if timed else ""
                return one(app, "audit.app.push", f"pushed {image}{took}", stages=timed)
            case ev.DeployFailed(app=app, image=image, message=message):
                return one(app, "audit.app.push.failed", f"push of {image} failed: {first_line(message)}")
            case ev.SyncDone(app=app, instances=count, stages=timed):
                took = f" in {describe(timed)}" if timed else ""
                plural = "s" if count != 1 else ""
                return one(app, "audit.app.sync", f"synced into {count} instance{plural}{took}", stages=timed)
            case ev.SyncFailed(app=app, message=message):
                return one(app, "audit.app.sync.failed", f"sync failed: {first_line(message)}")
            case ev.ScaleRequested(app=app, instances=count, memory_mb=memory, process=process):
                size = f", {memory}M each" if memory else ""
                plural = "s" if count != 1 else ""
                which = f"{process} " if process != "web" else ""
                return one(app, "audit.app.process.scale", f"scaled {which}to {count} instance{plural}{size}")
            case ev.Restarted(app=app, instances=count):
                return one(app, "audit.app.restart", f"restarted {count} instance{'s' if count != 1 else ''}")
            case ev.TaskFinished(app=app, name=name, exit_code=0):
                return one(app, "app.task.succeeded", f"task {name} succeeded")
            case ev.TaskFinished(app=app, name=name, exit_code=code):
                return one(app, "app.task.failed", f"task {name} failed (exit {code})")
            case ev.SpecChanged(app=app, spec=spec):
                before = self._specs.get(app)
                self._specs[app] = spec
                if before is None:
                    return []
                fields = changed_fields(before, spec)
                return one(app, "audit.app.update", f"config changed ({', '.join(fields)})") if fields else []
            case ev.InstancesChanged(app=app, instances=instances):
                changes = self._instances_changed(app, instances)
                return [Entry(now_ns, app, type_, text, label) for type_, text, label in changes]
        return []

    def _instances_changed(
        self, app: str, instances: tuple[InstanceStatus, ...]
    ) -> list[tuple[str, str, str]]:
        said: list[tuple[str, str, str]] = []
        present = {i.key for i in instances}
        for key in [k for k, i in self._instances.items() if i.app == app and k not in present]:
            del self._instances[key]
        for instance in instances:
            before = self._instances.get(instance.key)
            self._instances[instance.key] = instance
            for change in instance_changes(before, instance):  # the same as the [API] lines say
                if change == "crash":
                    said.append(("app.crash", crash_text(instance), instance.label))
                else:
                    said.append(("app.restart", f"instance {instance.label} restarted by the platform "
                                 f"({instance.restarts} so far)", instance.label))  # fmt: skip
            if (before is not None and before.healthy and not instance.healthy
                    and instance.state == "running"):  # fmt: skip
                check = self.health.get(app, "")
                said.append(("app.health.failed", f"instance {instance.label} health check failed"
                             f"{' ' + check if check else ''}", instance.label))  # fmt: skip
        return said


def first_line(message: str) -> str:
    """A failure's first line: the timeline is one line per event; the log has the rest."""
    return message.strip().splitlines()[0] if message.strip() else "(no message)"
