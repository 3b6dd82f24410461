"""An engine view for the TUI tests: real state and reduce, commands recorded instead of run."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from devloop.core import events as ev
from devloop.core.control import Accepted, Answer, Request
from devloop.core.logbuffer import LogBuffer, LogLine
from devloop.core.spec import AppSpec, BuildSpec, Language
from devloop.core.state import EngineState, reduce


def spec(name: str, instances: int = 2, secret: bool = False) -> AppSpec:
    return AppSpec(
        name, Path("/src") / name, BuildSpec(Path("/src") / name, language=Language.PYTHON),
        instances=instances, memory_mb=128, env=(("GREETING", "hi"),),
        secret_env=(("API_TOKEN", "planted-secret"),) if secret else (),
    )  # fmt: skip


class FakeEngine:
    def __init__(self, apps: tuple[AppSpec, ...]) -> None:
        self.state = EngineState.initial(apps)
        self.logs = LogBuffer()
        self.posted: list[ev.Event] = []
        self.commands: list[Request] = []
        self._listeners: list[Callable[[EngineState, ev.Event], None]] = []

    def subscribe(self, listener: Callable[[EngineState, ev.Event], None]) -> None:
        self._listeners.append(listener)

    def post(self, event: ev.Event) -> None:
        self.posted.append(event)

    def command(self, request: Request) -> Answer:
        self.commands.append(request)
        return Accepted()

    def shell_argv(self, app: str, index: int) -> list[str] | None:
        return ["/bin/true", app, str(index)]

    def feed(self, *events: ev.Event) -> None:
        for event in events:
            self.state = reduce(self.state, event)
            for listener in self._listeners:
                listener(self.state, event)

    def running(self, app: str, image: str = "devloop/web:1", port: int = 8080) -> None:
        count = self.state.apps[app].spec.instances
        instances = tuple(ev.InstanceStatus(app, i, f"{app}-{i}", "running", True) for i in range(count))
        self.feed(
            ev.PlatformReady("docker 20.10"), ev.BuildStarted(app), ev.BuildSucceeded(app, image, 1.5, False),
            ev.DeployStarted(app, image), ev.DeploySucceeded(app, image, f"http://{app}.localhost:{port}", 0.0),
            ev.InstancesChanged(app, instances),
        )  # fmt: skip

    def say(self, app: str, text: str, instance: int = 0, source: str = "APP") -> None:
        self.logs.add(LogLine(app, source, text, instance if source == "APP" else None, f"{app}-{instance}"))
