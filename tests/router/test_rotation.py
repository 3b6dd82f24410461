"""Rotation rules without sockets: turn order, pauses, refused instances, holds, retirement, drains."""

from __future__ import annotations

import asyncio

from devloop.router.rotation import FAILED_FOR_S, Backend, Backends, Rotation, drain, set_backends


def rotation_of(*ports: int) -> Rotation:
    return Rotation([Backend("127.0.0.1", port, str(i)) for i, port in enumerate(ports)])


def test_pick_takes_each_backend_in_turn() -> None:
    rotation = rotation_of(1, 2, 3)
    assert [rotation.pick(now=100.0).port for _ in range(6)] == [1, 2, 3, 1, 2, 3]  # type: ignore[union-attr]


def test_pick_skips_paused_backends_and_waits_when_all_are_paused() -> None:
    rotation = rotation_of(1, 2)
    rotation.backends[0].paused = True
    assert {rotation.pick(now=100.0).port for _ in range(4)} == {2}  # type: ignore[union-attr]
    rotation.backends[1].paused = True
    assert rotation.pick(now=100.0) is None
    sole = rotation_of(1)
    sole.backends[0].paused = True
    assert sole.pick(now=100.0) is None
    assert Rotation().pick(now=100.0) is None


def test_a_backend_that_just_refused_is_tried_last_and_only_for_a_while() -> None:
    rotation = rotation_of(1, 2)
    rotation.backends[0].failed_at = 100.0
    assert {rotation.pick(now=100.5).port for _ in range(4)} == {2}  # type: ignore[union-attr]
    rotation.backends[1].failed_at = 100.0  # both refused: one is still tried rather than none
    assert rotation.pick(now=100.5) is not None
    later = 100.0 + FAILED_FOR_S + 0.1
    assert {rotation.pick(now=later).port for _ in range(4)} == {1, 2}  # type: ignore[union-attr]


def test_an_app_serves_while_it_has_backends_or_a_hold_runs_up_to_the_deadline() -> None:
    rotation = Rotation()
    assert not rotation.serves(now=10.0, deadline=20.0)
    rotation.held_until = 15.0
    assert rotation.serves(now=10.0, deadline=20.0)
    assert not rotation.serves(now=10.0, deadline=9.0)  # the request's own wait ran out first
    assert not rotation.serves(now=16.0, deadline=20.0)  # the hold ended
    rotation.replace([Backend("127.0.0.1", 1, "0")])
    assert rotation.held_until == 0.0 and rotation.serves(now=16.0, deadline=20.0)


def test_set_backends_keeps_live_ones_retires_the_rest_and_renames_by_address() -> None:
    backends = Backends()
    rotation = Rotation()
    assert set_backends(rotation, backends, [("h", 1, "0"), ("h", 2, "1")]) == []
    first, second = rotation.backends
    removed = set_backends(rotation, backends, [("h", 2, "0"), ("h", 3, "1")])
    assert removed == [first] and first.retired and not second.retired
    assert rotation.backends[0] is second and second.instance == "0"  # same address: same backend
    assert rotation.listed() == [("h", 2, "0"), ("h", 3, "1")]
    set_backends(rotation, backends, [("h", 1, "0")])
    assert rotation.backends[0] is not first  # a retired backend is never reused


async def test_a_retired_backend_closes_its_kept_alive_connections() -> None:
    class Writer:
        closed = False

        def close(self) -> None:
            self.closed = True

    backends = Backends()
    backend = backends.take("h", 1, "0")
    writer = Writer()
    backend.idle.append((asyncio.StreamReader(), writer))  # type: ignore[arg-type]
    backends.retire(backend)
    assert writer.closed and backend.idle == []


async def test_drain_waits_for_in_flight_requests_or_gives_up_at_the_timeout() -> None:
    backend = Backend("h", 1, "0")
    assert await drain([backend], timeout=0.01)  # nothing in flight
    backend.begin()
    assert not await drain([backend], timeout=0.05)
    waiting = asyncio.create_task(drain([backend], timeout=5))
    await asyncio.sleep(0)
    assert not waiting.done()
    backend.end()
    assert await asyncio.wait_for(waiting, 5)
