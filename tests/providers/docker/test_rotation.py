"""The docker provider's routing state machine, without Docker: a real Router, a scripted health check."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from devloop.core.spec import AppSpec, HealthCheck, HealthCheckType
from devloop.providers.docker import rotation as rotation_module
from devloop.providers.docker.rotation import Routing, Step, step
from devloop.providers.shared import Background
from devloop.router.rotation import Address, Listed
from devloop.router.router import Router
from tests.helpers import async_wait_until

A: Listed = ("127.0.0.1", 30001, "0")
B: Listed = ("127.0.0.1", 30002, "1")
A2: Listed = ("127.0.0.1", 30003, "0")  # instance 0 again, restarted by Docker: a new host port


def at(*backends: Listed) -> set[Address]:
    return {b[:2] for b in backends}


@pytest.mark.parametrize(
    ("in_rotation", "serving", "waiting", "expected"),
    [
        pytest.param(at(A, B), [A, B], at(A, B), Step(frozenset(at(A, B)), [A, B], False, []), id="steady"),
        pytest.param(at(A, B), [B], at(A, B), Step(frozenset(at(B)), [B], False, []), id="one-crashed"),
        pytest.param(at(A), [], at(A), Step(frozenset(), [], False, []), id="none-left-503"),
        pytest.param(at(A), [A2], at(A), Step(frozenset(at(A2)), None, True, [A2]), id="only-restarted-hold"),
        pytest.param(set(), [A2], set(), Step(frozenset(at(A2)), None, False, [A2]), id="nothing-routed-yet"),
        pytest.param(
            at(B), [A2, B], at(B), Step(frozenset(at(A2, B)), [B], False, [A2]), id="restarted-beside"
        ),
        pytest.param(
            at(B), [A2, B], at(A2, B), Step(frozenset(at(A2, B)), [B], False, []), id="being-admitted"
        ),
        pytest.param(at(A), [A2, A2], at(A), Step(frozenset(at(A2)), None, True, [A2]), id="admitted-once"),
    ],
)
def test_a_snapshot_moves_the_rotation(
    in_rotation: set[Address], serving: list[Listed], waiting: set[Address], expected: Step
) -> None:
    assert step(in_rotation, serving, waiting) == expected


class ScriptedCheck:
    """A health check whose answer per address the test sets; `gate` holds every answer back."""

    def __init__(self) -> None:
        self.passing: set[Address] = set()
        self.gate = asyncio.Event()
        self.gate.set()
        self.asked: list[Address] = []

    async def __call__(self, health: HealthCheck, host: str, port: int | None) -> bool:
        assert port is not None
        self.asked.append((host, port))
        await self.gate.wait()
        return (host, port) in self.passing


APP = AppSpec("web", Path("."), health=HealthCheck(HealthCheckType.HTTP, "/", timeout_s=5, interval_s=0))


@pytest.fixture
async def router() -> AsyncIterator[Router]:
    router = Router(shared_port=0)  # any free port: nothing connects
    await router.ensure(APP)
    yield router
    await router.close()


async def test_a_restarted_instance_waits_out_of_rotation_and_joins_once_its_check_passes(
    router: Router,
) -> None:
    check, background = ScriptedCheck(), Background()
    rotation = Routing(router, background, check)
    router.set_backends("web", [A])
    check.gate.clear()
    rotation.follow(APP, [A2])  # instance 0 crashed and Docker restarted it on a new port
    assert router.backends("web") == []  # held: requests wait for the restarted one
    check.passing.add(A2[:2])
    check.gate.set()
    await background.finish()
    assert router.backends("web") == [A2]


async def test_stopping_cancels_the_admissions_of_instances_that_never_pass(router: Router) -> None:
    """A crash-looping instance gets a new port at every restart, each admission polling up to the
    health timeout: stopping devloop must not wait them out."""
    check, background = ScriptedCheck(), Background()
    rotation = Routing(router, background, check)
    patient = AppSpec("web", Path("."), health=HealthCheck(HealthCheckType.HTTP, "/", timeout_s=3600))
    rotation.follow(patient, [A])  # never passes, and would be polled for an hour
    await async_wait_until(lambda: check.asked, timeout=5, what="the admission's first check")
    assert len(background) == 1
    rotation.stop_admitting()
    await asyncio.wait_for(background.finish(), timeout=30)  # a deadline, not a measurement
    assert len(background) == 0 and router.backends("web") == []


async def test_a_check_that_passes_only_after_a_deploy_began_routes_nothing(router: Router) -> None:
    check, background = ScriptedCheck(), Background()
    rotation = Routing(router, background, check)
    check.gate.clear()
    rotation.follow(APP, [A])
    await async_wait_until(lambda: check.asked, timeout=5, what="the admission's first check")
    with rotation.deploying("web"):
        check.passing.add(A[:2])
        check.gate.set()
        await background.finish()
    assert router.backends("web") == []  # the deploy routes its own instances


async def test_only_a_snapshot_of_the_current_generation_of_a_routed_app_routes(router: Router) -> None:
    rotation = Routing(router, Background())
    before = rotation.generation("web")
    assert rotation.follows("web", before, serving=True)
    assert not rotation.follows("other", rotation.generation("other"), serving=True)  # not routed
    with rotation.deploying("web"):
        assert not rotation.follows("web", rotation.generation("web"), serving=True)
    assert not rotation.follows("web", before, serving=True)  # taken before the deploy
    now = rotation.generation("web")
    with rotation.holding("web"):
        assert rotation.follows("web", now, serving=True)
        assert not rotation.follows("web", now, serving=False)  # a restart is no reason to empty it
    assert rotation.follows("web", now, serving=False)


async def test_an_instance_failing_its_check_leaves_rotation_and_comes_back_when_it_passes(
    router: Router, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(rotation_module, "MONITOR_MIN_S", 0)
    check, background = ScriptedCheck(), Background()
    rotation = Routing(router, background, check)
    notices: list[str] = []
    router.on_notice = lambda _app, text: notices.append(text)
    router.set_backends("web", [A, B])
    rotation.follow(APP, [A, B])  # both live, both in rotation: nothing to admit
    check.passing.update(at(A, B))
    monitor = asyncio.create_task(rotation.monitor(APP))
    try:
        check.passing.discard(A[:2])
        await async_wait_until(lambda: router.backends("web") == [B], timeout=5, what="A out")
        check.passing.add(A[:2])
        await async_wait_until(lambda: len(router.backends("web")) == 2, timeout=5, what="A back")
    finally:
        monitor.cancel()
        await asyncio.gather(monitor, return_exceptions=True)
    assert notices[:2] == [
        "instance 0 failed its health check: out of rotation",
        "instance 0 passes its health check again: back in rotation",
    ]
    assert len(background) == 0


async def test_a_debugged_instance_paused_at_a_breakpoint_stays_in_rotation_and_is_said_once(
    router: Router, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dataclasses import replace

    from devloop.core.debug import PAUSED

    monkeypatch.setattr(rotation_module, "MONITOR_MIN_S", 0)
    debugged = replace(APP, debug="on")
    check, background = ScriptedCheck(), Background()
    rotation = Routing(router, background, check)
    notices: list[str] = []
    router.on_notice = lambda _app, text: notices.append(text)
    router.set_backends("web", [A, B])
    rotation.follow(debugged, [A, B])
    check.passing.update(at(B))  # A holds at a breakpoint
    monitor = asyncio.create_task(rotation.monitor(debugged))
    try:
        await async_wait_until(lambda: notices or None, timeout=5, what="the paused notice")
        await async_wait_until(lambda: len(check.asked) >= 6 or None, timeout=5, what="more checks")
    finally:
        monitor.cancel()
        await asyncio.gather(monitor, return_exceptions=True)
    assert router.backends("web") == [A, B]
    assert notices == [f"instance 0 {PAUSED}"]
