"""The engine's answers to devloop.core.control requests: one handler per request type, each
answering at once (long work such as a restart goes on as a task and reports in the log stream)."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from devloop.core import events as ev
from devloop.core.control import (
    Accepted,
    Answer,
    Refused,
    Reload,
    Reloaded,
    Request,
    Restart,
    Scale,
    SetDebug,
    SetManual,
    Status,
    StatusReport,
    TaskLog,
    Trigger,
    Triggered,
)
from devloop.core.logbuffer import LogLine
from devloop.core.processes import process_types, process_view
from devloop.core.specdiff import describe_fields, diff_projects
from devloop.core.status import app_status
from devloop.core.tasks import TaskResult, source_of
from devloop.errors import DevloopError

if TYPE_CHECKING:
    from devloop.engine.loop import Engine


class Commands:
    """Answers requests against one engine's state; posts the events they ask for."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._restarting: set[str] = set()

    def answer(self, request: Request) -> Answer:
        match request:
            case Trigger():
                return self.trigger(request)
            case Scale():
                return self.scale(request)
            case Status():
                return self.status()
            case Reload():
                return self.reload()
            case Restart():
                return self.restart(request)
            case SetManual(on=on):
                self.engine.post(ev.ManualModeSet(on))
                return Accepted()
            case TaskLog():
                return self.task_log(request)
            case SetDebug():
                return self.set_debug(request)

    def set_debug(self, request: SetDebug) -> Answer:
        """The app redeployed under its debugger (or without), as a config edit would."""
        engine = self.engine
        app = engine.state.apps.get(request.app)
        if app is None:
            return Refused(f"unknown app {request.app!r}")
        mode = "on" if request.on else ""
        if bool(app.spec.debug) == request.on:
            return Accepted()
        spec = dataclasses.replace(app.config_spec or app.spec, debug=mode)
        engine.post(ev.SpecChanged(spec.name, spec))
        engine.api(spec.name, "debugging: redeploying under the debugger" if request.on
                   else "debugging off: redeploying without the debugger")  # fmt: skip
        apps = tuple(spec if a.name == spec.name else a for a in engine.project.apps)
        engine.project = dataclasses.replace(engine.project, apps=apps)
        engine.rewatch()  # the health monitor reads `debug` (a paused instance stays in rotation)
        return Accepted()

    def trigger(self, request: Trigger) -> Answer:
        state = self.engine.state
        names = request.apps or state.order
        if any(n not in state.apps for n in names):
            return Refused(f"unknown app; apps here: {', '.join(state.order)}")
        for name in names:
            self.engine.post(ev.TriggerRequested(name))
        return Triggered(tuple(names))

    def scale(self, request: Scale) -> Answer:
        app = self.engine.state.apps.get(request.app)
        if app is None:
            return Refused(f"unknown app {request.app!r}")
        if request.process not in process_types(app.spec):
            known = ", ".join(process_types(app.spec))
            return Refused(f"{request.app} has no process type {request.process!r}; it has: {known}")
        count = (
            process_view(app.spec, request.process).instances
            if request.instances is None
            else request.instances
        )
        if not 0 <= count <= 100:
            return Refused("instances must be 0 to 100")
        self.engine.post(ev.ScaleRequested(request.app, count, request.memory_mb, request.process))
        return Accepted()

    def task_log(self, request: TaskLog) -> Answer:
        """A task's lines into the log stream (and so the history), its end into the timeline."""
        if request.app not in self.engine.state.apps:
            return Refused(f"unknown app {request.app!r}")
        if len(request.times_ns) != len(request.lines):
            return Refused("bad request: one time per line")
        source = source_of(request.task)
        for text, ts in zip(request.lines, request.times_ns, strict=True):
            self.engine.logs.add(LogLine(request.app, source, text, timestamp_ns=ts))
        if request.exit_code is not None:
            result = TaskResult(request.app, request.task, request.exit_code)
            self.engine.api(request.app, result.summary())
            self.engine.post(ev.TaskFinished(request.app, request.task, request.exit_code))
        return Accepted()

    def status(self) -> StatusReport:
        state = self.engine.state
        return StatusReport(tuple(app_status(state.apps[name]) for name in state.order))

    def reload(self) -> Answer:
        """Read the config again (a saved devloop.yaml, set-env and friends) and move each changed
        app; say what changed and what only a new `devloop up` can apply."""
        engine = self.engine
        if engine.reloader is None:
            return Refused("this devloop cannot reload its config")
        try:
            project = engine.reloader()
        except DevloopError as exc:
            return Refused(exc.render())
        edit = diff_projects(engine.project, project)
        for spec, fields in edit.changed:
            engine.post(ev.SpecChanged(spec.name, spec))
            engine.api(spec.name, f"config changed ({describe_fields(fields)}): applying")
        if edit.needs_restart:
            engine.api("devloop", f"config changed ({', '.join(edit.needs_restart)}): "
                       "stop and start `devloop up` to apply it")  # fmt: skip
        # Apps added or removed wait for a restart; the others follow the file from now on.
        saved = {app.name: app for app in project.apps}
        apps = tuple(saved.get(app.name, app) for app in engine.project.apps)
        engine.project = dataclasses.replace(engine.project, apps=apps, notices=project.notices)
        if edit.changed:
            engine.rewatch()  # watch again with the new specs (health checks, ports)
        return Reloaded(tuple(spec.name for spec, _fields in edit.changed))

    def restart(self, request: Restart) -> Answer:
        name = request.app
        target = self.engine.state.apps.get(name)
        if target is None:
            return Refused(f"unknown app {name!r}")
        if target.building or target.deploying or target.syncing or name in self._restarting:
            return Refused(f"{name} is busy ({target.phase.value}); restart it once it runs")
        self._restarting.add(name)
        self.engine.spawn(self._restart(name), f"restart {name}")
        return Accepted()

    async def _restart(self, name: str) -> None:
        engine = self.engine
        spec = engine.state.apps[name].spec
        try:
            count = await engine.provider.restart(spec, lambda text: engine.api(name, text))
        except DevloopError as exc:
            engine.api(name, f"restart failed: {exc}")
        else:
            engine.api(name, f"restarted {count} instance(s)")
            engine.post(ev.Restarted(name, count))
        finally:
            self._restarting.discard(name)
