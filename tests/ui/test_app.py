"""The dashboard driven with Pilot against a fake engine view, key by key."""

from __future__ import annotations

import pytest
from textual.widgets import DataTable, Input

from devloop.core import events as ev
from devloop.core.control import Restart, Scale
from devloop.ui.app import DevloopApp
from devloop.ui.logview import LogView
from devloop.ui.screens import ConfirmQuitScreen, EnvScreen, HelpScreen, ScaleScreen
from tests.ui.fake_engine import FakeEngine, spec


def engine_with_two_apps() -> FakeEngine:
    engine = FakeEngine((spec("web", secret=True), spec("worker", instances=1)))
    engine.running("web")
    engine.running("worker", "devloop/worker:1", 8081)
    return engine


def cell(app: DevloopApp, row: str, column: str) -> str:
    return str(app.query_one("#apps", DataTable).get_cell(row, column))


def log_texts(app: DevloopApp, pane: str = "#logs") -> list[str]:
    return [line.text for line in app.query_one(pane, LogView).lines()]


async def test_table_shows_apps_state_instances_and_url() -> None:
    engine = engine_with_two_apps()
    app = DevloopApp(engine)
    async with app.run_test(size=(140, 40)) as pilot:
        await pilot.pause()
        assert cell(app, "web", "State") == "● running"
        assert cell(app, "web", "Instances") == "2/2"
        assert cell(app, "web", "URL") == "http://web.localhost:8080"
        assert cell(app, "worker", "URL") == "http://worker.localhost:8081"
        assert "docker 20.10" in app.sub_title and "auto builds" in app.sub_title


async def test_logs_arrive_in_batches_and_follow_the_selection() -> None:
    engine = engine_with_two_apps()
    app = DevloopApp(engine)
    async with app.run_test(size=(140, 40)) as pilot:
        engine.say("web", "web says hi")
        engine.say("worker", "worker says hi")
        engine.say("web", "installing deps", source="STG")
        await pilot.pause(0.2)
        assert log_texts(app)[-3:] == ["web says hi", "worker says hi", "installing deps"]
        assert log_texts(app, "#build") == ["installing deps"]
        await pilot.press("a")  # only the selected app (web)
        assert "worker says hi" not in log_texts(app) and "web says hi" in log_texts(app)
        await pilot.press("down")  # select worker
        await pilot.pause()
        assert log_texts(app) == ["worker says hi"] and log_texts(app, "#build") == []
        await pilot.press("a")
        assert len(log_texts(app)) == 3


async def test_filter_by_regex_and_escape_clears() -> None:
    engine = engine_with_two_apps()
    for i in range(5):
        engine.say("web", f"GET /item/{i} 200")
    engine.say("web", "ERROR database gone")
    app = DevloopApp(engine)
    async with app.run_test(size=(140, 40)) as pilot:
        await pilot.press("slash")
        assert app.query_one("#filter", Input).has_focus
        await pilot.press(*"ERROR|item/3", "enter")
        assert log_texts(app) == ["GET /item/3 200", "ERROR database gone"]
        await pilot.press("slash", *"([", "enter")  # not a regex: said, and the old filter stays
        await pilot.pause()
        assert any("not a regular expression" in str(n.message) for n in app._notifications)
        await pilot.press("escape")
        assert len(log_texts(app)) == 6


async def test_router_lines_toggle_with_t() -> None:
    engine = engine_with_two_apps()
    engine.say("web", "app line")
    engine.say("web", 'web.localhost:8080 "GET / HTTP/1.1" 200 12 bytes 0.4 ms instance 0', source="RTR")
    app = DevloopApp(engine, router_logs=False)  # `devloop up --no-router-logs`
    async with app.run_test(size=(140, 40)) as pilot:
        await pilot.pause()
        assert log_texts(app) == ["app line"]
        assert "router lines hidden" in str(app.query_one("#status").render())
        await pilot.press("t")
        assert log_texts(app)[-1].startswith('web.localhost:8080 "GET / HTTP/1.1" 200')
        await pilot.press("t")
        assert log_texts(app) == ["app line"]


async def test_follow_pauses_and_counts_new_lines() -> None:
    engine = engine_with_two_apps()
    app = DevloopApp(engine)
    async with app.run_test(size=(140, 40)) as pilot:
        await pilot.press("f")
        for i in range(7):
            engine.say("web", f"line {i}")
        await pilot.pause(0.2)
        logs = app.query_one("#logs", LogView)
        assert not logs.follow and logs.unseen == 7
        assert "paused: 7 new line(s)" in str(app.query_one("#status").render())
        await pilot.press("f")
        assert logs.follow and logs.unseen == 0


async def test_rebuild_manual_scale_restart_keys() -> None:
    engine = engine_with_two_apps()
    app = DevloopApp(engine)
    async with app.run_test(size=(140, 40)) as pilot:
        await pilot.press("r")
        assert engine.posted[-1] == ev.TriggerRequested("web")
        await pilot.press("m")
        assert engine.posted[-1] == ev.ManualModeSet(True)
        await pilot.press("s")
        assert isinstance(app.screen, ScaleScreen)
        scale_input = app.screen.query_one(Input)
        scale_input.value = ""
        await pilot.press("3", "enter")
        assert engine.commands[-1] == Scale(app="web", instances=3)
        await pilot.press("R")
        assert engine.commands[-1] == Restart(app="web")


async def test_open_env_shell_clear_help() -> None:
    engine = engine_with_two_apps()
    engine.say("web", "something")
    opened: list[str] = []
    app = DevloopApp(engine, opener=opened.append)
    async with app.run_test(size=(140, 40)) as pilot:
        await pilot.press("o")
        assert opened == ["http://web.localhost:8080"]
        await pilot.press("e")
        assert isinstance(app.screen, EnvScreen)
        shown = str(app.screen.query_one("#env-text").render())
        assert (
            "GREETING: hi" in shown
            and "API_TOKEN: ••••••  (secret)" in shown
            and "planted-secret" not in shown
        )
        await pilot.press("escape")
        await pilot.press("x")  # no terminal to hand over in a headless test: said, app stays up
        await pilot.pause()
        assert any("cannot open a shell here" in str(n.message) for n in app._notifications)
        await pilot.press("c")
        assert log_texts(app) == []
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)


async def test_failed_build_turns_the_row_red_and_notifies_and_the_fix_clears_it() -> None:
    engine = engine_with_two_apps()
    app = DevloopApp(engine)
    async with app.run_test(size=(140, 40)) as pilot:
        engine.feed(
            ev.FilesChanged("web", frozenset({"requirements.txt"})), ev.BuildStarted("web"),
            ev.BuildFailed("web", "web: build failed at step [2/5] RUN pip install", ("No matching distribution",)),
        )  # fmt: skip
        await pilot.pause(0.2)
        table = app.query_one("#apps", DataTable)
        state_cell = table.get_cell("web", "State")
        assert str(state_cell) == "✗ failed" and app.current_theme.error in str(state_cell.style)
        assert "build failed at step [2/5]" in cell(app, "web", "Last event")
        assert any("No matching distribution" in str(n.message) for n in app._notifications)
        engine.feed(ev.BuildStarted("web"), ev.BuildSucceeded("web", "devloop/web:2", 1, False),
                    ev.DeployStarted("web", "devloop/web:2"),
                    ev.DeploySucceeded("web", "devloop/web:2", "http://127.0.0.1:8080", 1.0))  # fmt: skip
        await pilot.pause(0.2)
        assert cell(app, "web", "State") == "● running" and cell(app, "web", "Last event") == ""
        assert str(table.get_cell("web", "State").style) == ""


async def test_building_shows_elapsed_time() -> None:
    engine = FakeEngine((spec("web"),))
    engine.feed(ev.BuildStarted("web"))
    app = DevloopApp(engine)
    async with app.run_test(size=(140, 40)) as pilot:
        engine.feed(ev.BuildStarted("web"))
        await pilot.pause(0.2)
        assert cell(app, "web", "State").startswith("◐ building ") and cell(app, "web", "State").endswith("s")


@pytest.mark.parametrize(
    ("confirm", "answer", "result"), [(False, None, False), (True, "y", True), (True, "n", False)]
)
async def test_quit(confirm: bool, answer: str | None, result: bool) -> None:
    app = DevloopApp(engine_with_two_apps(), confirm_remove=confirm)
    async with app.run_test(size=(140, 40)) as pilot:
        await pilot.press("q")
        if answer is not None:
            assert isinstance(app.screen, ConfirmQuitScreen)
            await pilot.press(answer)
    assert app.return_value is result


async def test_process_types_show_their_counts_and_their_lines_their_tags() -> None:
    from dataclasses import replace

    from devloop.core.logbuffer import LogLine
    from devloop.core.spec import HealthCheck, HealthCheckType, ProcessSpec

    worker = ProcessSpec("worker", "python worker.py", 2, None, HealthCheck(HealthCheckType.PROCESS))
    engine = FakeEngine((replace(spec("web", instances=1), processes=(worker,)),))
    engine.running("web")
    engine.feed(ev.InstancesChanged("web", (
        ev.InstanceStatus("web", 0, "w0", "running", True),
        ev.InstanceStatus("web", 0, "k0", "running", True, process="worker"),
        ev.InstanceStatus("web", 1, "k1", "crashed", exit_code=1, process="worker"),
    )))  # fmt: skip
    app = DevloopApp(engine)
    async with app.run_test(size=(140, 40)) as pilot:
        await pilot.pause()
        assert cell(app, "web", "State") == "● running"  # a crashed worker is not a crashed app
        assert cell(app, "web", "Instances") == "1/1 worker 1/2"
        engine.logs.add(LogLine("web", "APP", "took job 7", 1, "k1", process="worker"))
        await pilot.pause(0.2)
        view = app.query_one("#logs", LogView)
        shown = view._line_strip(list(view.lines())[-1]).text  # the row as the pane draws it
        assert shown == "[APP/worker/1] web | took job 7"


async def test_d_runs_the_selected_app_under_its_debugger_and_shows_the_debug_column() -> None:
    from devloop.core.control import SetDebug
    from devloop.ui.app import DEBUG_COLUMN

    engine = engine_with_two_apps()
    app = DevloopApp(engine)
    async with app.run_test(size=(140, 40)) as pilot:
        assert DEBUG_COLUMN not in [c.label.plain for c in app.table.columns.values()]
        await pilot.press("d")
        assert engine.commands[-1] == SetDebug("web", True)
        assert DEBUG_COLUMN in [c.label.plain for c in app.table.columns.values()]
