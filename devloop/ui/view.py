"""What the UI needs from the engine; the real Engine and test fakes both provide it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from devloop.core import events as ev
from devloop.core.control import Answer, Request
from devloop.core.logbuffer import LogBuffer
from devloop.core.state import EngineState
from devloop.core.timeline import Entry


class EngineView(Protocol):
    state: EngineState
    logs: LogBuffer

    def subscribe(self, listener: Callable[[EngineState, ev.Event], None]) -> None: ...

    def post(self, event: ev.Event) -> None: ...

    def command(self, request: Request) -> Answer: ...

    def shell_argv(self, app: str, index: int) -> list[str] | None: ...


class TimelineFeed(Protocol):
    """The event timeline as `devloop events` shows it: what is stored, then each new entry."""

    def entries(self) -> list[Entry]: ...

    def subscribe_entries(self, listener: Callable[[Entry], None]) -> None: ...
