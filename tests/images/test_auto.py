"""The prune after each deploy: it runs beside the loop, one at a time (deploys meanwhile coalesce
into one more run), says what it freed, says a store's note once, and never raises."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

from devloop.core import events as ev
from devloop.core.spec import AppSpec, ProjectSpec
from devloop.core.state import EngineState
from devloop.images.auto import AutoPrune
from devloop.images.budget import StoredImage
from devloop.images.stores import Inventory, Removal, Store
from tests.helpers import async_wait_until


class Shelf:
    """A store of scripted images; `gate` holds inventory until the test lets it go."""

    name = "shelf"

    def __init__(self, count: int) -> None:
        self.images = [StoredImage("devloop/web", f"{n:016x}", float(n), 1000, f"id{n}") for n in range(count)]
        self.gate = asyncio.Event()
        self.removed: list[str] = []

    async def inventory(self) -> Inventory:
        await self.gate.wait()
        return Inventory(tuple(self.images))

    async def remove(self, images: Sequence[StoredImage]) -> Removal:
        self.removed += [i.ref for i in images]
        self.images = [i for i in self.images if i not in images]
        return Removal(1000 * len(images), tuple(i.ref for i in images), notes=("a note said once",))


def project() -> ProjectSpec:
    return ProjectSpec(file=Path("devloop.yaml"), apps=(AppSpec("web", Path("/src")),), keep_images=2)


def deployed() -> ev.Event:
    return ev.DeploySucceeded("web", "devloop/web:x", None, 0.0)


def test_deploys_start_one_prune_at_a_time_and_it_reports_once() -> None:
    said: list[tuple[str, str]] = []

    async def scenario() -> tuple[Shelf, AutoPrune]:
        shelf = Shelf(5)

        async def stores(_project: ProjectSpec) -> list[Store]:
            return [shelf]

        auto = AutoPrune(project(), lambda app, text: said.append((app, text)), stores, idle_s=0)
        state = EngineState.initial((), False)
        auto.listener(state, ev.BuildCancelled("web"))  # not a deploy: nothing starts
        assert auto.runs == 0
        auto.listener(state, deployed())
        await async_wait_until(lambda: auto.runs == 1, timeout=5, what="the prune to start")  # it waits for the store
        for _ in range(2):  # two deploys while it runs: one more run after it, not two
            auto.listener(state, deployed())
        shelf.gate.set()
        await auto.wait()
        return shelf, auto

    shelf, auto = asyncio.run(scenario())
    assert auto.runs == 2
    assert sorted(shelf.removed) == [f"devloop/web:{n:016x}" for n in range(3)]  # newest 2 stay
    assert said[0] == ("web", "pruned images beyond the newest 2 per app: shelf 3.0 kB (3 tag(s))")
    assert [text for _app, text in said].count("a note said once") == 1


def test_a_failing_prune_is_said_and_never_raised() -> None:
    said: list[str] = []

    async def broken(_project: ProjectSpec) -> list[Store]:
        raise RuntimeError("the engine went away")

    async def scenario() -> None:
        auto = AutoPrune(project(), lambda _app, text: said.append(text), broken, idle_s=3600)
        auto.listener(EngineState.initial((), False), deployed())
        await auto.wait()

    asyncio.run(scenario())
    assert said == ["pruning old images failed: the engine went away"]


def test_a_prune_waits_until_the_loop_is_idle_and_a_burst_of_saves_is_one_prune() -> None:
    async def scenario() -> AutoPrune:
        shelf = Shelf(5)
        shelf.gate.set()

        async def stores(_project: ProjectSpec) -> list[Store]:
            return [shelf]

        auto = AutoPrune(project(), lambda _app, _text: None, stores, idle_s=3600)
        state = EngineState.initial((), False)
        for _ in range(3):  # save, build, deploy, three times: nothing runs while busy
            auto.listener(state, ev.FilesChanged("web", frozenset({"app.py"})))
            auto.listener(state, ev.BuildStarted("web"))
            auto.listener(state, deployed())
        await asyncio.sleep(0)
        assert auto.runs == 0  # an hour of idle is due first
        await auto.wait()  # `devloop push` ending: the prune due runs now, once
        return auto

    assert asyncio.run(scenario()).runs == 1
