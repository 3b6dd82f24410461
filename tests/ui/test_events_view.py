"""The dashboard's events: each app's latest in the table, and the live events view (key `v`).

The timeline comes from the real recorder of a `devloop up` (on disk under tmp_path, secrets
masked), fed by the fake engine's events as the real engine's would be.
"""

from __future__ import annotations

from pathlib import Path

from textual.pilot import Pilot
from textual.widgets import DataTable, Static

from devloop.core import events as ev
from devloop.core.credentials import MASK
from devloop.core.spec import ProjectSpec
from devloop.engine.recorder import Recorder
from devloop.ui.app import DevloopApp
from devloop.ui.eventsview import EventsScreen
from devloop.ui.screens import HelpScreen
from tests.helpers import async_wait_until
from tests.ui.fake_engine import FakeEngine, spec

APPS = (spec("web", secret=True), spec("worker", instances=1))


def recorded_engine(state: Path) -> tuple[FakeEngine, Recorder]:
    engine = FakeEngine(APPS)
    recorder = Recorder(ProjectSpec(state / "devloop.yaml", APPS), state, "p-1")
    engine.subscribe(recorder.event)  # before the dashboard, as `devloop up` wires it
    return engine, recorder


def cell(app: DevloopApp, row: str, column: str) -> str:
    return str(app.query_one("#apps", DataTable).get_cell(row, column))


async def shown_until(pilot: Pilot[bool], wanted: str) -> list[str]:
    """The events view's lines once one of them ends with `wanted` (polled with a deadline)."""

    def lines() -> list[str] | None:
        screen = pilot.app.screen
        assert isinstance(screen, EventsScreen)
        shown = screen.shown()
        return shown if any(line.endswith(wanted) for line in shown) else None

    return await async_wait_until(lines, timeout=5, what=f"an event ending {wanted!r}")


async def test_the_table_shows_each_apps_latest_event_from_earlier_runs_and_as_it_happens(
    tmp_path: Path,
) -> None:
    earlier, recorder = recorded_engine(tmp_path)
    earlier.running("web")
    earlier.running("worker", "devloop/worker:1", 8081)
    recorder.close()  # that `devloop up` has stopped; this one starts from what it stored

    engine, recorder = recorded_engine(tmp_path)
    for name, port in (("web", 41234), ("worker", 41235)):  # both URLs, as on a real `devloop up`
        engine.running(name, f"devloop/{name}:1", port)
        engine.feed(ev.DeploySucceeded(name, f"devloop/{name}:1", f"http://{name}.localhost:8080", 0.0,
                                       f"http://127.0.0.1:{port}"))  # fmt: skip
    app = DevloopApp(engine, timeline=recorder)
    async with app.run_test(size=(130, 30)) as pilot:
        await pilot.pause()
        assert cell(app, "web", "Last event").endswith(" pushed devloop/web:1")
        assert cell(app, "worker", "Last event").endswith(" pushed devloop/worker:1")
        assert cell(app, "web", "URL") == "http://web.localhost:8080 127.0.0.1:41234"
        engine.feed(ev.ScaleRequested("worker", 3, memory_mb=256))
        await async_wait_until(
            lambda: cell(app, "worker", "Last event").endswith(" scaled to 3 instances, 256M each"),
            timeout=5, what="the scale in the worker's row",
        )  # fmt: skip
        assert cell(app, "web", "Last event").endswith(" pushed devloop/web:1")
        # At 100 columns the row still fits: the last event gets what is left, cut with `…`.
        await pilot.resize_terminal(100, 30)
        table = app.query_one("#apps", DataTable)
        await async_wait_until(lambda: table.virtual_size.width <= 100, timeout=5, what="the table to fit")
        shown = cell(app, "worker", "Last event")
        assert shown.endswith("…") and len(shown) >= 16
        assert shown[2] == ":" and " scaled to 3 instances, 256M each".startswith(shown[5:-1])


async def test_the_events_view_lists_the_timeline_live_for_all_apps_or_the_selected_one(
    tmp_path: Path,
) -> None:
    engine, recorder = recorded_engine(tmp_path)
    engine.running("web")
    engine.running("worker", "devloop/worker:1", 8081)
    app = DevloopApp(engine, timeline=recorder)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.press("v")
        assert isinstance(app.screen, EventsScreen)
        shown = await shown_until(pilot, "pushed devloop/worker:1")
        assert [line.split("  ", 1)[1].split()[0] for line in shown] == ["web", "web", "worker", "worker"]
        assert shown[0].endswith("built devloop/web:1 in 1.5s")  # newest last, each with its time
        assert shown[0][:4].isdigit() and shown[0][10] == " " and shown[0][13] == ":"
        # Live: a crash after the view opened, worded as cf does, with the secret of a message masked.
        crashed = ev.InstanceStatus("web", 1, "web-1", "crashed", exit_code=137, oom_killed=True,
                                    memory_limit_mb=128)  # fmt: skip
        engine.feed(ev.InstancesChanged("web", (ev.InstanceStatus("web", 0, "web-0", "running", True), crashed)))
        shown = await shown_until(pilot, "instance 1 crashed: out of memory (limit 128M)")
        engine.feed(ev.DeployFailed("web", "devloop/web:2", "token planted-secret refused"))
        shown = await shown_until(pilot, f"push of devloop/web:2 failed: token {MASK} refused")
        assert not any("planted-secret" in line for line in shown)
        # `a`: only the selected app's (web), then all again.
        await pilot.press("a")
        title = str(app.screen.query_one("#events-title", Static).render())
        assert "events of web" in title
        assert all("  worker  " not in line for line in app.screen.shown()) and len(app.screen.shown()) == 4
        await pilot.press("a")
        assert len(app.screen.shown()) == 6
        await pilot.press("escape")
        assert not isinstance(app.screen, EventsScreen)
        await pilot.press("down", "a", "v")  # worker selected, its logs only: the view opens on worker
        assert isinstance(app.screen, EventsScreen)
        assert [line.rsplit("  ", 1)[1] for line in app.screen.shown()] == [
            "built devloop/worker:1 in 1.5s", "pushed devloop/worker:1"]  # fmt: skip


async def test_the_events_key_is_in_the_help_and_an_empty_timeline_says_so(tmp_path: Path) -> None:
    engine, recorder = recorded_engine(tmp_path)
    app = DevloopApp(engine, timeline=recorder)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        help_text = str(app.screen.query_one("#help-text", Static).render())
        assert "v        events: what happened to the apps" in help_text
        await pilot.press("escape", "v")
        assert isinstance(app.screen, EventsScreen)
        assert app.screen.shown() == ["no events of all apps yet"]
        engine.feed(ev.Restarted("web", 2))
        assert (await shown_until(pilot, "restarted 2 instances"))[-1].endswith("web  restarted 2 instances")
        assert len(app.screen.shown()) == 1
