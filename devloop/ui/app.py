"""The dashboard: apps table, aggregated logs, the selected app's build output, keys.

It reads engine state and log lines and posts user commands back; it never
talks to Docker or Kubernetes itself. Log lines are gathered as they come and
handed to the log pane in one batch per tick (50 ms), never one widget call
per line.
"""

from __future__ import annotations

import functools
import re
import subprocess
import time
import webbrowser
from collections.abc import Callable
from typing import Any

from rich.text import Text
from textual import on
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Footer, Header, Input, Static

from devloop.core import events as ev
from devloop.core.control import Refused, Restart, Scale, SetDebug
from devloop.core.logbuffer import LogLine
from devloop.core.state import AppState, EngineState, Phase
from devloop.core.status import app_status, debug_cell
from devloop.core.timeline import Entry
from devloop.ui.cells import COLUMNS, KEYS_HELP, LAST_MIN, PHASE_MARK, bare, process_counts, short
from devloop.ui.eventsview import SHOWN as EVENTS_KEPT
from devloop.ui.eventsview import EventsScreen, latest_text
from devloop.ui.logview import LogView
from devloop.ui.screens import ConfirmQuitScreen, EnvScreen, HelpScreen, ScaleScreen
from devloop.ui.view import EngineView, TimelineFeed

TICK_S = 0.05
DEBUG_COLUMN = "Debug"


class DevloopApp(App[bool]):
    """Returns True when the user asked to remove the apps on the way out."""

    CSS_PATH = "devloop.tcss"
    TITLE = "devloop"
    BINDINGS = [
        Binding("q", "quit_app", "Quit"),
        Binding("ctrl+c", "quit_app", "Quit", show=False, priority=True),
        Binding("a", "toggle_all", "All/app logs"),
        Binding("slash", "filter", "Filter"),
        Binding("f", "toggle_follow", "Follow"),
        Binding("t", "toggle_router", "Router lines"),
        Binding("r", "rebuild", "Rebuild"),
        Binding("m", "toggle_manual", "Manual"),
        Binding("s", "scale", "Scale"),
        Binding("R", "restart", "Restart"),
        Binding("d", "toggle_debug", "Debug", show=False),  # in `?`; the footer is full
        Binding("o", "open_url", "Open"),
        Binding("e", "show_env", "Env"),
        Binding("x", "exec_shell", "Shell"),
        Binding("c", "clear_logs", "Clear"),
        Binding("v", "show_events", "Events"),
        Binding("question_mark", "help", "Help"),
    ]
    KEYS_HELP = KEYS_HELP

    def __init__(
        self,
        view: EngineView,
        *,
        timeline: TimelineFeed | None = None,
        confirm_remove: bool = False,
        router_logs: bool = True,
        opener: Callable[[str], Any] = webbrowser.open,
        run_interactive: Callable[[list[str]], Any] = subprocess.run,
    ) -> None:
        super().__init__()
        self.view = view
        self.confirm_remove = confirm_remove
        self.opener = opener
        self.run_interactive = run_interactive
        self.show_all = True
        self.router_logs = router_logs
        self.filter_pattern: re.Pattern[str] | None = None
        self._pending: list[LogLine] = []
        self._dirty = True
        self._started: dict[str, float] = {}  # app -> when its current build/deploy began
        self._notified: dict[str, str] = {}
        view.subscribe(self._on_event)
        view.logs.subscribe(self._pending.append)
        self.events: list[Entry] = timeline.entries() if timeline is not None else []
        self.latest = {entry.app: entry for entry in self.events}  # app -> its newest event
        self._new_events: list[Entry] = []
        if timeline is not None:
            timeline.subscribe_entries(self._new_events.append)

    # --- layout ------------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Header()
        yield DataTable(id="apps", cursor_type="row", zebra_stripes=True)
        yield LogView(id="logs")
        yield Static("build output", id="build-title")
        yield LogView(id="build", show_app=False, max_lines=2000)
        yield Static("", id="status")
        yield Input(placeholder="filter logs (regular expression), Enter to apply, Esc to clear", id="filter")
        yield Footer()

    def on_mount(self) -> None:
        self.table = table = self.query_one("#apps", DataTable)
        self.logs_view = self.query_one("#logs", LogView)
        self.build_view = self.query_one("#build", LogView)
        self.status = self.query_one("#status", Static)
        self._status_text = ""
        for column in self.table_columns:
            table.add_column(column, key=column)
        for name in self.view.state.order:
            table.add_row(*self._cells(self.view.state.apps[name]), key=name)
        self._reset_views()
        self.set_interval(TICK_S, self.tick)
        self.tick()

    # --- engine inputs -----------------------------------------------------------------------------

    def _on_event(self, state: EngineState, event: ev.Event) -> None:
        self._dirty = True
        app = getattr(event, "app", None)
        if isinstance(event, ev.BuildStarted | ev.DeployStarted) and app:
            self._started[app] = time.monotonic()
        if isinstance(event, ev.BuildFailed):
            self._alert(event.app, f"{event.app}: build failed", event.message, event.lines)
        elif isinstance(event, ev.DeployFailed):
            self._alert(event.app, f"{event.app}: deploy failed", event.message, event.lines)
        elif isinstance(event, ev.InstancesChanged) and state.apps[event.app].phase is Phase.CRASHED:
            codes = [i.exit_code for i in event.instances if i.exit_code is not None]
            self._alert(event.app, f"{event.app}: crashed", f"exit code {codes[0] if codes else '?'}", ())
        elif isinstance(event, ev.DeploySucceeded):
            self._notified.pop(event.app, None)

    def _alert(self, app: str, title: str, message: str, lines: tuple[str, ...]) -> None:
        body = "\n".join([short(message, 200), *lines[-3:]])
        if self._notified.get(app) == body:
            return
        self._notified[app] = body
        self.notify(body, title=title, severity="error", timeout=10)

    def tick(self) -> None:
        """Apply what arrived since the last tick, in one batch."""
        if not self.is_running:
            return  # shutting down: the widgets may be gone
        if self._pending:
            batch, self._pending[:] = list(self._pending), []
            self.logs_view.add_lines(batch)
            self.build_view.add_lines(batch)
        if self._new_events:
            self._take_events()
        busy = any(a.building or a.deploying for a in self.view.state.apps.values())
        if self._dirty or busy:
            self._dirty = False
            self._refresh_table()
        self._refresh_status()

    def on_resize(self) -> None:
        self._dirty = True  # the last event's cell gets the new width at the next tick

    def _take_events(self) -> None:
        batch, self._new_events[:] = list(self._new_events), []
        self.events.extend(batch)
        if len(self.events) > 2 * EVENTS_KEPT:
            del self.events[:-EVENTS_KEPT]
        self.latest.update({entry.app: entry for entry in batch})
        self._dirty = True
        for screen in self.screen_stack:
            if isinstance(screen, EventsScreen):
                screen.add(batch)

    # --- rendering ---------------------------------------------------------------------------------

    def _cells(self, app: AppState) -> list[Text]:
        phase = f"{PHASE_MARK[app.phase]} {app.phase.value}"
        if app.building or app.deploying:
            began = self._started.get(app.spec.name)
            if began is not None:
                phase += f" {time.monotonic() - began:.1f}s"
        failing = app.phase in (Phase.FAILED, Phase.CRASHED)
        style = f"bold {self.current_theme.error}" if failing else ""
        row = app_status(app)  # the same status `devloop status` shows
        latest = self.latest.get(row.name)
        last = short(row.last_error, 200) or (latest_text(latest) if latest else "")
        cells: list[str] = [
            row.name,
            phase,
            " ".join([f"{row.instances.running}/{row.instances.desired}", *process_counts(row)]),
            " ".join(u for u in (row.url, bare(row.address) if row.address != row.url else None) if u),
            last,
        ]
        if DEBUG_COLUMN in self.table_columns:  # where a debugger attaches, per instance; paused ones said
            cells.insert(len(cells) - 1, debug_cell(row))  # before the last event, which takes the rest
        return [Text(cell, style=style) for cell in cells]

    @functools.cached_property
    def table_columns(self) -> tuple[str, ...]:
        """The apps table's columns (fixed when it is made): a Debug one when an app runs under
        its debugger."""
        if not any(a.spec.debug for a in self.view.state.apps.values()):
            return COLUMNS
        return (*COLUMNS[:-1], DEBUG_COLUMN, COLUMNS[-1])

    def _refresh_table(self) -> None:
        table = self.table
        rows = {name: self._cells(self.view.state.apps[name]) for name in self.view.state.order}
        columns = self.table_columns
        widths = [max(len(c), *(len(r[i]) for r in rows.values())) + 2 for i, c in enumerate(columns[:-1])]
        room = max(LAST_MIN, self.size.width - sum(widths) - 3)  # 2 for its padding, 1 for a scrollbar
        for name, cells in rows.items():
            cells[-1] = Text(short(cells[-1].plain, room), style=cells[-1].style)
            for column, cell in zip(columns, cells, strict=True):
                table.update_cell(name, column, cell, update_width=True)
        state = self.view.state
        mode = "manual" if state.manual else "auto"
        where = state.platform or ("starting…" if not state.platform_error else "platform failed")
        self.sub_title = f"{where} · {mode} builds · watching {len(state.order)} app(s)"

    def _refresh_status(self) -> None:
        logs = self.logs_view
        follow = "following" if logs.follow else f"paused: {logs.unseen} new line(s), f to follow"
        scope = "all apps" if self.show_all else f"app {self.selected()}"
        pattern = f" · filter /{self.filter_pattern.pattern}/" if self.filter_pattern else ""
        router = "" if self.router_logs else " · router lines hidden (t)"
        text = f" {follow} · {scope}{pattern}{router} · ? for help"
        if text != self._status_text:
            self._status_text = text
            self.status.update(text)

    # --- selection and filters ---------------------------------------------------------------------

    def selected(self) -> str:
        table = self.query_one("#apps", DataTable)
        order = self.view.state.order
        return order[min(max(table.cursor_row, 0), len(order) - 1)]

    def _reset_views(self) -> None:
        app = self.selected()
        pattern = self.filter_pattern
        logs = self.query_one("#logs", LogView)

        def keep(line: LogLine) -> bool:
            if not self.show_all and line.app != app:
                return False
            if not self.router_logs and line.source == "RTR":
                return False
            return pattern is None or pattern.search(line.text) is not None

        logs.predicate = keep
        logs.set_pattern(pattern)
        logs.reset(self.view.logs.lines())
        build = self.query_one("#build", LogView)
        build.predicate = lambda line: line.app == app and line.source == "STG"
        build.reset(self.view.logs.lines(app))
        self.query_one("#build-title", Static).update(f" build output of {app}")

    @on(DataTable.RowHighlighted, "#apps")
    def _row_changed(self) -> None:
        self._reset_views()

    # --- actions -----------------------------------------------------------------------------------

    def action_toggle_all(self) -> None:
        self.show_all = not self.show_all
        self._reset_views()

    def action_toggle_router(self) -> None:
        self.router_logs = not self.router_logs
        self._reset_views()

    def action_filter(self) -> None:
        box = self.query_one("#filter", Input)
        box.add_class("visible")
        box.focus()

    @on(Input.Submitted, "#filter")
    def _apply_filter(self, event: Input.Submitted) -> None:
        text = event.value.strip()
        try:
            self.filter_pattern = re.compile(text) if text else None
        except re.error as exc:
            self.notify(f"not a regular expression: {exc}", severity="error")
            return
        event.input.remove_class("visible")
        self.query_one("#logs", LogView).focus()
        self._reset_views()

    def on_key(self, event: Any) -> None:
        box = self.query_one("#filter", Input)
        if event.key == "escape" and box.has_focus:
            box.value = ""
            box.remove_class("visible")
            self.filter_pattern = None
            self.query_one("#logs", LogView).focus()
            self._reset_views()
            event.stop()

    def action_toggle_follow(self) -> None:
        self.logs_view.follow = not self.logs_view.follow
        self._refresh_status()  # show it now, not at the next tick

    def action_rebuild(self) -> None:
        self.view.post(ev.TriggerRequested(self.selected()))
        self.notify(f"{self.selected()}: build requested")

    def action_toggle_manual(self) -> None:
        manual = not self.view.state.manual
        self.view.post(ev.ManualModeSet(manual))
        self.notify("manual builds: press r to build" if manual else "automatic builds on every save")

    def action_scale(self) -> None:
        name = self.selected()
        current = self.view.state.apps[name].spec.instances

        def done(count: int | None) -> None:
            if count is not None and count != current:
                answer = self.view.command(Scale(name, instances=count))
                if isinstance(answer, Refused):
                    self.notify(answer.error, severity="error")
                else:
                    self.notify(f"{name}: scaling to {count} instance(s)")

        self.push_screen(ScaleScreen(name, current), done)

    def action_restart(self) -> None:
        answer = self.view.command(Restart(self.selected()))
        if isinstance(answer, Refused):
            self.notify(answer.error, severity="error")
        else:
            self.notify(f"{self.selected()}: restarting, one instance at a time")

    def action_toggle_debug(self) -> None:
        """The selected app redeployed under its debugger, or without it."""
        name = self.selected()
        on = not self.view.state.apps[name].spec.debug
        answer = self.view.command(SetDebug(name, on))
        if isinstance(answer, Refused):
            self.notify(answer.error, severity="error")
            return
        if on and DEBUG_COLUMN not in self.table_columns:
            self.table_columns = (*COLUMNS[:-1], DEBUG_COLUMN, COLUMNS[-1])
            self.table.add_column(DEBUG_COLUMN, key=DEBUG_COLUMN)  # shown last; filled as it runs
        self.notify(f"{name}: {'debugging: redeploying under its debugger' if on else 'debugging off'}")

    def action_open_url(self) -> None:
        url = self.view.state.apps[self.selected()].url
        if url:
            self.opener(url)
        else:
            self.notify(f"{self.selected()} has no URL yet", severity="warning")

    def action_show_env(self) -> None:
        self.push_screen(EnvScreen(self.view.state.apps[self.selected()].spec))

    def action_exec_shell(self) -> None:
        argv = self.view.shell_argv(self.selected(), 0)
        if argv is None:
            self.notify(f"{self.selected()} has no running instance 0", severity="warning")
            return
        try:
            with self.suspend():
                self.run_interactive(argv)
        except Exception as exc:  # no terminal to hand over (e.g. headless): say so, stay up
            self.notify(f"cannot open a shell here: {exc}", severity="error")

    def action_clear_logs(self) -> None:
        self.query_one("#logs", LogView).clear()

    def action_show_events(self) -> None:
        self.push_screen(EventsScreen(self.events, self.selected(), self.show_all))

    def action_help(self) -> None:
        self.push_screen(HelpScreen(self.KEYS_HELP))

    def action_quit_app(self) -> None:
        if not self.confirm_remove:
            self.exit(False)
            return

        def answered(remove: bool | None) -> None:
            if remove is not None:
                self.exit(remove)

        self.push_screen(ConfirmQuitScreen(), answered)
