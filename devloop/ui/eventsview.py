"""The dashboard's events view: the timeline `devloop events` prints, live, for all apps or one.

The dashboard hands it the stored timeline when it opens and every new entry as it happens
(from the recorder, secrets already masked); it keeps no state of the engine's own.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Footer, Log, Static

from devloop.core.timeline import Entry, event_line

SHOWN = 2000  # entries the view holds; the file keeps more (`devloop events -n`)


def latest_text(entry: Entry) -> str:
    """`12:03 pushed devloop/web:3`: an app's latest event in the apps table."""
    return time.strftime("%H:%M", time.localtime(entry.time_ns / 1e9)) + " " + entry.text


class EventsScreen(ModalScreen[None]):
    """Newest last; `a` switches between every app's events and the selected app's."""

    BINDINGS = [
        Binding("escape,q,v", "dismiss", "Close"),
        Binding("a", "toggle_all", "All apps/this app"),
    ]

    def __init__(self, entries: Iterable[Entry], app_name: str, show_all: bool) -> None:
        super().__init__()
        self.entries = list(entries)[-SHOWN:]
        self.app_name = app_name
        self.show_all = show_all
        self._placeholder = False  # the log shows "no events yet", not entries

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="events-dialog"):
            yield Static("", id="events-title")
            yield Log(id="events-log", auto_scroll=True, max_lines=SHOWN)
        yield Footer()

    def on_mount(self) -> None:
        self._show()

    def shown(self) -> list[str]:
        """The lines on screen, oldest first."""
        return list(self.query_one("#events-log", Log).lines)

    def add(self, entries: list[Entry]) -> None:
        """New entries as they happen; the view follows the newest."""
        self.entries = (self.entries + entries)[-SHOWN:]
        if not self.is_mounted:
            return  # on_mount shows them with the rest
        lines = [self._line(e) for e in entries if self._wanted(e)]
        if lines:
            log = self.query_one("#events-log", Log)
            if self._placeholder:
                log.clear()
                self._placeholder = False
            log.write_lines(lines)

    def action_toggle_all(self) -> None:
        self.show_all = not self.show_all
        self._show()

    def _wanted(self, entry: Entry) -> bool:
        return self.show_all or entry.app == self.app_name

    def _line(self, entry: Entry) -> str:
        width = max((len(e.app) for e in self.entries), default=0)
        return event_line(entry, width)

    def _show(self) -> None:
        scope = "all apps" if self.show_all else self.app_name
        self.query_one("#events-title", Static).update(
            f"[b]events of {scope}[/b], newest last  ·  a: all apps or {self.app_name}  ·  Esc closes"
        )
        log = self.query_one("#events-log", Log)
        log.clear()
        lines = [self._line(e) for e in self.entries if self._wanted(e)]
        self._placeholder = not lines
        log.write_lines(lines or [f"no events of {scope} yet"])
