"""Which of an app's containers are in its rotation as health, crashes and devloop's own deploys and
restarts move them: the docker provider's routing state machine, with no Docker in it.

Docker restarts a crashed container with a new host port, and says so only as an event: each
snapshot of the app's serving containers is folded into the router here. A crashed instance leaves
rotation at once (none left: the 503 page says why); a restarted one comes back once its health
check passes; one that fails its check while running leaves until it passes again, as Cloud
Foundry keeps checking. Deploys and restarts bump a generation, so a snapshot taken before them
never routes.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass

from devloop.core.debug import PAUSED
from devloop.core.spec import AppSpec, HealthCheck, HealthCheckType
from devloop.providers.shared import Background
from devloop.router import health
from devloop.router.rotation import Address, Listed
from devloop.router.router import Router

HEALTH_POLL_S = 0.025  # a fresh instance is polled often: it usually answers within 100 ms
MONITOR_MIN_S = 5  # steady-state checks at most this often: each one shows in the app's own log

Check = Callable[[HealthCheck, str, int | None], Awaitable[bool]]


@dataclass(frozen=True)
class Step:
    """What one snapshot of the serving containers changes in an app's rotation."""

    live: frozenset[Address]  # where the serving containers answer now
    route: list[Listed] | None  # exactly these in rotation; None: leave the rotation as it is
    hold: bool  # none of the routed ones is left but restarted ones are coming: requests wait
    admit: list[Listed]  # new addresses, each to join once its health check passes


def step(in_rotation: set[Address], serving: list[Listed], waiting: set[Address]) -> Step:
    """The rotation's next step, given what is in it, what should serve, and the addresses already
    waiting for a health check (in rotation, being admitted, or out for failing theirs)."""
    live = frozenset((host, port) for host, port, _index in serving)
    staying = [s for s in serving if s[:2] in in_rotation]
    admit: dict[Address, Listed] = {}
    for backend in serving:
        if backend[:2] not in waiting:
            admit.setdefault(backend[:2], backend)
    if staying or not live:
        return Step(live, staying, False, list(admit.values()))
    # Only restarted instances are left (new host ports): the dead addresses leave rotation, and
    # requests wait for the restarted ones' health checks rather than get a 503 at once.
    return Step(live, None, bool(in_rotation), list(admit.values()))


class Routing:
    """The routing state of every app of one docker provider, and the tasks that move it (the
    router's own rotation.py keeps each app's backends; this decides which they are)."""

    def __init__(self, router: Router, background: Background, check: Check = health.check) -> None:
        self.router = router
        self._background = background
        # Health checks of new instances before they join: nothing to wait for once devloop stops
        # (a crash-looping instance gets a new port at every restart, each polled up to its timeout).
        self._admissions: set[asyncio.Task[None]] = set()
        self._check = check
        self._holding: set[str] = set()  # apps devloop is restarting: never routed to nothing meanwhile
        self._admitting: set[Address] = set()  # restarted instances waiting for their health check
        self._live: dict[str, set[Address]] = {}  # app -> addresses of its serving containers
        self._sick: dict[str, dict[Address, str]] = {}  # app -> failing its health check: address -> index
        self._paused: set[Address] = set()  # debugged instances not answering (at a breakpoint?)
        self._deploying: set[str] = set()  # apps whose routing a deploy is changing
        self._serving_config: dict[str, str] = {}  # app -> config hash of the version it serves
        self._generation: dict[str, int] = {}  # bumped by deploys, so stale snapshots do not route

    # --- what deploys and restarts tell it ---------------------------------------------------------

    @contextlib.contextmanager
    def deploying(self, app: str) -> Iterator[None]:
        """A deploy routes the app itself for the duration; snapshots begun before or during it
        leave the rotation alone."""
        self._deploying.add(app)
        self._bump(app)
        try:
            yield
        finally:
            self._deploying.discard(app)
            self._bump(app)

    def serve(self, app: str, config: str) -> None:
        """The app's containers of config hash `config` are the version that serves."""
        self._serving_config[app] = config

    def serving_config(self, app: str) -> str | None:
        return self._serving_config.get(app)

    @contextlib.contextmanager
    def holding(self, app: str) -> Iterator[None]:
        """devloop restarts an instance of `app`: the others keep serving, and a snapshot without
        any serving container leaves the rotation alone rather than empty it."""
        self._holding.add(app)
        try:
            yield
        finally:
            self._holding.discard(app)

    def generation(self, app: str) -> int:
        return self._generation.get(app, 0)

    def _bump(self, app: str) -> None:
        self._generation[app] = self._generation.get(app, 0) + 1

    # --- snapshots ---------------------------------------------------------------------------------

    def follows(self, app: str, generation: int, serving: bool) -> bool:
        """Whether a snapshot begun at `generation` may route the app (`serving`: it found some
        container that should serve). Safe from the engine thread that takes snapshots."""
        unchanged = generation == self.generation(app)
        routed = app in self.router.apps and app not in self._deploying
        return unchanged and routed and (serving or app not in self._holding)

    def follow(self, app: AppSpec, serving: list[Listed]) -> Step:
        """Fold a snapshot's serving containers into the app's rotation; start the health checks
        of those that are new."""
        in_rotation = {(host, port) for host, port, _index in self.router.backends(app.name)}
        sick = self._sick.get(app.name, {}).keys()  # the monitor owns the sick
        waiting = in_rotation | self._admitting | sick
        move = step(in_rotation, serving, waiting)
        self._live[app.name] = set(move.live)
        if move.route is not None:
            self.router.set_backends(app.name, move.route)
        elif move.hold:
            self.router.hold(app.name)
        for host, port, index in move.admit:
            self._admitting.add((host, port))
            admission = self._background.spawn(self._admit_when_healthy(app, (host, port), index))
            self._admissions.add(admission)
            admission.add_done_callback(self._admissions.discard)
        return move

    def stop_admitting(self) -> None:
        """Cancel the health checks of instances waiting to join: devloop is stopping."""
        for admission in list(self._admissions):
            admission.cancel()

    async def _admit_when_healthy(self, app: AppSpec, address: Address, index: str) -> None:
        generation = self.generation(app.name)
        deadline = time.monotonic() + app.health.timeout_s
        try:
            while time.monotonic() < deadline:
                if app.health.type is HealthCheckType.PROCESS or await self._check(app.health, *address):
                    if generation == self.generation(app.name):
                        keep = self._live.get(app.name, set())
                        self.router.add_backend(app.name, *address, index, keep=keep)
                    return
                await asyncio.sleep(HEALTH_POLL_S)  # polling the instance's health, as the deploy does
        finally:
            self._admitting.discard(address)

    # --- while the app runs ------------------------------------------------------------------------

    async def monitor(self, app: AppSpec) -> None:
        """Health checks while the app runs, as Cloud Foundry keeps running them: an instance
        failing its check leaves rotation (the others take its requests) and comes back once
        it passes again."""
        sick = self._sick.setdefault(app.name, {})
        while True:
            await asyncio.sleep(max(app.health.interval_s, MONITOR_MIN_S))  # the check's own interval
            if app.name in self._deploying or app.name in self._holding:
                continue
            live = self._live.get(app.name, set())
            for address in [a for a in sick if a not in live]:
                del sick[address]
            for host, port, index in self.router.backends(app.name):
                if app.debug and (host, port) in self._paused and await self._check(app.health, host, port):
                    self._paused.discard((host, port))
                    continue
                if (host, port) in live and not await self._check(app.health, host, port):
                    if app.debug:  # a breakpoint holds it: not killed, not taken out, said once
                        if (host, port) not in self._paused:
                            self._paused.add((host, port))
                            self.router.notice(app.name, f"instance {index} {PAUSED}")
                        continue
                    sick[(host, port)] = index
                    self.router.remove_backend(app.name, (host, port))
                    self.router.notice(app.name, f"instance {index} failed its health check: out of rotation")
            for (host, port), index in list(sick.items()):
                if await self._check(app.health, host, port):
                    del sick[(host, port)]
                    self.router.add_backend(app.name, host, port, index)
                    self.router.notice(
                        app.name, f"instance {index} passes its health check again: back in rotation"
                    )
