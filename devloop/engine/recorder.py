"""What a running `devloop up` keeps for later: every log line and the event timeline, on disk.

`devloop logs --recent` and `devloop events` read these after pods are gone and after devloop
itself has stopped. Writes are buffered and flushed every FLUSH_S (and at the end), so a busy log
stream costs one write call per burst, not one per line.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path

from devloop.core import events as ev
from devloop.core.logbuffer import LogLine
from devloop.core.spec import AppSpec, HealthCheckType, ProjectSpec
from devloop.core.state import EngineState
from devloop.core.timeline import Entry, Timeline, decode, encode
from devloop.engine.history import LogHistory, masked
from devloop.engine.journal import Journal

FLUSH_S = 0.5
SHOWN_EVENTS = 500  # what a dashboard opening starts with from the stored timeline
EVENTS_CAP_BYTES = 2 * 1024 * 1024  # about 15,000 events per project


def logs_dir(state: Path, project_id: str) -> Path:
    return state / project_id / "logs"


def events_dir(state: Path, project_id: str) -> Path:
    return state / project_id / "events"


def event_journal(state: Path, project_id: str) -> Journal[Entry]:
    return Journal(events_dir(state, project_id), EVENTS_CAP_BYTES, encode, decode)


def secret_values(app: AppSpec) -> list[str]:
    """The values no file devloop writes may hold: the app's secret env (env_file) values."""
    return [value for _key, value in app.secret_env]


def health_words(app: AppSpec) -> str:
    """`on :8080/health`, for "health check failed on ..."."""
    if app.health.type is HealthCheckType.HTTP:
        return f"on :{app.port}{app.health.endpoint}"
    if app.health.type is HealthCheckType.PORT and app.port:
        return f"on port {app.port}"
    return ""


class Recorder:
    """Subscribed to an engine's log buffer and events; owns the two journals of one project."""

    def __init__(self, project: ProjectSpec, state: Path, project_id: str) -> None:
        self._secrets = {app.name: secret_values(app) for app in project.apps}
        self.history = LogHistory(logs_dir(state, project_id), secrets=self.secrets())
        self.events = event_journal(state, project_id)
        self.timeline = Timeline({app.name: health_words(app) for app in project.apps})
        self._entry_listeners: list[Callable[[Entry], None]] = []

    def secrets(self) -> list[str]:
        return [value for values in self._secrets.values() for value in values]

    def line(self, line: LogLine) -> None:
        self.history.append(line)

    def event(self, _state: EngineState, event: ev.Event) -> None:
        if isinstance(event, ev.SpecChanged):  # a reloaded config: new secrets, a new health check
            self._secrets[event.app] = secret_values(event.spec)
            self.history.set_secrets(self.secrets())
            self.timeline.health[event.app] = health_words(event.spec)
        for entry in self.timeline.observe(event, time.time_ns()):
            text = masked(entry.text, self.history.secrets)
            stored = dataclasses.replace(entry, text=text) if text != entry.text else entry
            self.events.append(stored)
            for listener in self._entry_listeners:
                listener(stored)

    def entries(self, last: int = SHOWN_EVENTS) -> list[Entry]:
        """The newest `last` stored events, oldest first, earlier runs of `devloop up` included."""
        return list(deque(self.events.records(), maxlen=last))

    def subscribe_entries(self, listener: Callable[[Entry], None]) -> None:
        """`listener` gets each new event as stored (secrets masked), as it happens."""
        self._entry_listeners.append(listener)

    async def flush_every(self, period_s: float = FLUSH_S) -> None:
        """Make what was written readable by other processes, every `period_s`, until cancelled."""
        while True:
            await asyncio.sleep(period_s)
            self.flush()

    def flush(self) -> None:
        self.history.flush()
        self.events.flush()

    def close(self) -> None:
        self.history.close()
        self.events.close()
