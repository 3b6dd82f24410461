"""A builder that builds nothing, for the engine's tests: scripted outcomes, held builds, recorded calls.

Each `build` records the app, then (if the test holds that app's builds) waits until
released, so a second change can arrive during a build; it returns the next scripted
outcome for the app (an image tag, or a BuildError to raise), by default a fresh
`devloop/<app>:fake<n>`. A cancelled build is counted, as ImageBuilder's process would
be terminated. `_: Builder = FakeBuilder()` makes mypy hold it to the protocol.
"""

from __future__ import annotations

import asyncio
import itertools

from devloop.build.builder import Builder, BuildResult, OutputSink
from devloop.core.buildlog import BuildOutput
from devloop.core.spec import AppSpec
from devloop.errors import BuildError


class FakeBuilder:
    def __init__(self) -> None:
        self.started: list[str] = []  # app names, one per build begun
        self.finished: list[tuple[str, str]] = []  # (app, image) of each build that succeeded
        self.cancelled: list[str] = []
        self.outcomes: dict[str, list[str | BuildError]] = {}
        self._held: dict[str, asyncio.Event] = {}
        self._serial = itertools.count(1)

    def script(self, app: str, *outcomes: str | BuildError) -> None:
        """The next builds of `app` end like this, in order (then fresh images again)."""
        self.outcomes.setdefault(app, []).extend(outcomes)

    def hold(self, app: str) -> None:
        """Builds of `app` wait, once started, until `release(app)`."""
        self._held[app] = asyncio.Event()

    def release(self, app: str) -> None:
        self._held.pop(app).set()

    async def build(self, app: AppSpec, on_output: OutputSink | None = None, force: bool = False) -> BuildResult:
        self.started.append(app.name)
        sink = on_output or (lambda _out: None)
        try:
            held = self._held.get(app.name)
            if held is not None:
                await held.wait()
            else:
                await asyncio.sleep(0)  # a real build always yields to the loop
        except asyncio.CancelledError:
            self.cancelled.append(app.name)
            raise
        pending = self.outcomes.get(app.name)
        outcome = pending.pop(0) if pending else f"devloop/{app.name}:fake{next(self._serial)}"
        if isinstance(outcome, BuildError):
            raise outcome
        sink(BuildOutput(app.name, f"built {outcome}", kind="result"))
        self.finished.append((app.name, outcome))
        return BuildResult(app.name, outcome, False, 0.0)


_: Builder = FakeBuilder()
