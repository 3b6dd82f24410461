"""SVG snapshots of the main screen in its states (Textual pinned in pyproject.toml).

Update after an intended change with: python3 -m pytest tests/ui/test_snapshots.py --snapshot-update
"""

from __future__ import annotations

from devloop.core import events as ev
from devloop.ui.app import DevloopApp
from tests.ui.fake_engine import FakeEngine, spec

SIZE = (120, 34)


def building() -> FakeEngine:
    engine = FakeEngine((spec("web"), spec("worker", instances=1)))
    engine.feed(ev.PlatformReady("docker 20.10.24"), ev.BuildStarted("web"), ev.BuildStarted("worker"))
    engine.say("web", "[deps 5/5] RUN /venv/bin/pip install -r requirements.txt", source="STG")
    engine.say("web", "Collecting flask", source="STG")
    return engine


def running() -> FakeEngine:
    engine = FakeEngine((spec("web"), spec("worker", instances=1)))
    engine.running("web")
    engine.running("worker", "devloop/worker:1", 8081)
    for i in range(4):
        engine.say("web", f"instance {i % 2}: GET / 200", instance=i % 2)
    engine.say("worker", "processed job 41")
    return engine


def failed() -> FakeEngine:
    engine = running()
    engine.feed(
        ev.FilesChanged("web", frozenset({"requirements.txt"})),
        ev.BuildStarted("web"),
        ev.BuildFailed(
            "web", "web: build failed at step [deps 5/5] RUN pip install", ("No matching distribution",)
        ),
    )
    engine.say("web", "ERROR: No matching distribution found for flaskk", source="STG")
    return engine


def debugging() -> FakeEngine:
    """`devloop up --debug web`: the Debug column says where each instance's debugger listens."""
    from dataclasses import replace

    engine = FakeEngine((replace(spec("web"), debug="on"), spec("worker", instances=1)))
    engine.running("web")
    engine.running("worker", "devloop/worker:1", 8081)
    debugged = tuple(
        ev.InstanceStatus("web", i, f"web-{i}", "running", True, debug="debugpy",
                          debug_address=f"127.0.0.1:{24905 + i * 1311}")
        for i in range(2)
    )  # fmt: skip
    engine.feed(ev.InstancesChanged("web", debugged))
    engine.say("web", "web/0 debug: 127.0.0.1:24905 (debugpy)", source="API")
    engine.say("web", "web/1 debug: 127.0.0.1:26216 (debugpy)", source="API")
    engine.say("web", "instance 0: GET /orders 200", instance=0)
    engine.say("web", "instance 0 does not answer its health check: paused in the debugger?", source="RTR")
    return engine


def test_debugging(snap_compare) -> None:  # type: ignore[no-untyped-def]
    assert snap_compare(DevloopApp(debugging()), terminal_size=SIZE)


def test_building(snap_compare) -> None:  # type: ignore[no-untyped-def]
    assert snap_compare(DevloopApp(building()), terminal_size=SIZE)


def test_running(snap_compare) -> None:  # type: ignore[no-untyped-def]
    assert snap_compare(DevloopApp(running()), terminal_size=SIZE)


def test_failed(snap_compare) -> None:  # type: ignore[no-untyped-def]
    assert snap_compare(DevloopApp(failed()), terminal_size=SIZE, run_before=_no_toasts)


async def _no_toasts(pilot) -> None:  # type: ignore[no-untyped-def]
    pilot.app.clear_notifications()  # toasts time out; the red row is what must show
