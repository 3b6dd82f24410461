"""The engine and kind-node stores against recorded answers: the engine's `docker system df` (the
fake engine), a node's `crictl` (argv recorded, JSON as crictl prints it), and the pooled rule that
an image a node runs keeps its copies in every store."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence

from devloop.adapters.dockerapi import ImageUsage
from devloop.adapters.proc import ProcResult
from devloop.images.budget import StoredImage
from devloop.images.nodestore import NodeStore
from devloop.images.prune import prune
from devloop.images.stores import EngineStore, Inventory, Removal
from tests.fakes.docker import FakeDockerEngine


def tag(n: int) -> str:
    return f"{n:016x}"


class Crictl:
    """Answers `docker exec NODE crictl ...` as crictl does; records every argv."""

    def __init__(self, images: dict[str, list[str]], running: Sequence[str] = ()) -> None:
        self.images = images  # id -> repoTags
        self.running = list(running)
        self.calls: list[list[str]] = []

    async def __call__(self, argv: Sequence[str]) -> ProcResult:
        self.calls.append(list(argv))
        args = list(argv[4:])
        body: dict[str, object]
        if args == ["images", "-o", "json"]:
            body = {"images": [{"id": i, "repoTags": t, "repoDigests": [], "size": "1000", "uid": None,
                                "username": "", "pinned": False} for i, t in self.images.items()]}  # fmt: skip
            return ProcResult(tuple(argv), 0, tuple(json.dumps(body, indent=2).splitlines()))
        if args == ["ps", "-o", "json"]:
            body = {"containers": [{"id": f"c{n}", "imageRef": i, "image": {"image": i}, "state": "CONTAINER_RUNNING"}
                                   for n, i in enumerate(self.running)]}  # fmt: skip
            return ProcResult(tuple(argv), 0, tuple(json.dumps(body).splitlines()))
        if args[0] == "rmi":
            for image_id, names in list(self.images.items()):
                if args[1] in names:
                    if image_id in self.running:
                        return ProcResult(tuple(argv), 1, (f'ERROR: image "{args[1]}" is in use',))
                    del self.images[image_id]
                    return ProcResult(tuple(argv), 0, (f"Deleted: {args[1]}",))
            return ProcResult(tuple(argv), 1, (f'ERROR: no such image "{args[1]}" present',))
        return ProcResult(tuple(argv), 1, ("unknown command",))


def engine_with(tags: list[tuple[str, int, float]], running: Sequence[str] = ()) -> FakeDockerEngine:
    engine = FakeDockerEngine()
    for name, size, created in tags:
        image_id = f"sha256:{name.replace('/', '-').replace(':', '-')}"
        engine.usage[image_id] = ImageUsage(image_id, (name,), created, size, 100)
        engine.images.add(name)
    engine.running_image_ids = {f"sha256:{name.replace('/', '-').replace(':', '-')}" for name in running}
    return engine


def test_the_engine_keeps_n_and_the_one_a_container_runs() -> None:
    names = [f"devloop/web:{tag(n)}" for n in range(1, 6)]
    engine = engine_with([(name, 1100, float(n)) for n, name in enumerate(names, 1)] + [("python:3.12", 5000, 0)],
                         running=[names[0]])  # fmt: skip
    [report] = asyncio.run(prune([EngineStore(lambda: engine)], keep=2, apps=["web"]))
    assert sorted(engine.images) == sorted([names[0], names[3], names[4], "python:3.12"])
    assert report.plan is not None and [i.ref for i in report.plan.running] == [names[0]]
    assert [c[1][0] for c in engine.calls if c[0] == "remove_image"] == [names[2], names[1]]
    assert "1 older kept because an instance runs it" in report.line(dry_run=False)


def test_a_node_store_lists_with_crictl_and_removes_one_tag_at_a_time() -> None:
    node = "devloop-control-plane"
    crictl = Crictl({
        f"sha256:{n}": [f"docker.io/devloop/web:{tag(n)}"] for n in range(1, 5)
    } | {"sha256:pause": ["registry.k8s.io/pause:3.10"]}, running=["sha256:1"])  # fmt: skip
    engine = engine_with([(f"devloop/web:{tag(n)}", 1100, float(n)) for n in range(1, 5)])
    reports = asyncio.run(prune([EngineStore(lambda: engine), NodeStore(node, runner=crictl, docker="docker")],
                                keep=1, apps=["web"]))  # fmt: skip
    assert sorted(crictl.images) == ["sha256:1", "sha256:4", "sha256:pause"]  # the newest, the running one
    assert [c for c in crictl.calls if "rmi" in c] == [
        ["docker", "exec", node, "crictl", "rmi", f"docker.io/devloop/web:{tag(3)}"],
        ["docker", "exec", node, "crictl", "rmi", f"docker.io/devloop/web:{tag(2)}"],
    ]  # oldest last: the node knows no creation times, the engine's copies lend theirs
    # what the node runs keeps its engine copy too
    assert f"devloop/web:{tag(1)}" in engine.images
    assert reports[1].removal is not None and reports[1].removal.freed == 2000


def test_a_store_that_cannot_be_read_is_skipped_and_said() -> None:
    async def broken(argv: Sequence[str]) -> ProcResult:
        return ProcResult(tuple(argv), 1, ("Error: No such container: gone-control-plane",))

    engine = engine_with([(f"devloop/web:{tag(n)}", 1100, float(n)) for n in range(1, 4)])
    reports = asyncio.run(prune([NodeStore("gone-control-plane", runner=broken), EngineStore(lambda: engine)],
                                keep=1, apps=None))  # fmt: skip
    assert reports[0].line(dry_run=False).startswith("kind node gone-control-plane: skipped (")
    assert "No such container" in reports[0].line(dry_run=False)
    assert len(engine.images) == 1


def test_doctor_lines_say_the_space_per_store_and_what_a_prune_frees() -> None:
    from devloop.images.prune import usage_lines

    engine = engine_with([(f"devloop/web:{tag(n)}", 1100, float(n)) for n in range(1, 6)])

    async def broken(argv: Sequence[str]) -> ProcResult:
        return ProcResult(tuple(argv), 1, ("Error: No such container: gone-control-plane",))

    reports = asyncio.run(prune([EngineStore(lambda: engine), NodeStore("gone-control-plane", runner=broken)],
                                keep=3, apps=["web"], dry_run=True))  # fmt: skip
    lines = usage_lines(reports)
    assert lines[0] == "local engine: 5.0 kB in 5 image(s); `devloop prune` frees about 2.0 kB"
    assert lines[1].startswith("kind node gone-control-plane: not readable (")
    assert len(engine.images) == 5  # a dry run removes nothing


class Listed:
    """A store that lists what it is given (a registry's copies, with their images' `created`)."""

    name = "listed"

    def __init__(self, images: list[StoredImage]) -> None:
        self.images = images

    async def inventory(self) -> Inventory:
        return Inventory(tuple(self.images))

    async def remove(self, images: Sequence[StoredImage]) -> Removal:
        self.images = [i for i in self.images if i not in images]
        return Removal(0, tuple(i.ref for i in images))


def test_every_store_orders_a_tag_by_the_latest_time_any_store_knows() -> None:
    # The registry's `created` says tag 1 is newest (a cache hit keeps an old build's time, or
    # the reverse); the engine tagged 2 last: 2 stays in both.
    engine = FakeDockerEngine()
    for n, tagged_at in ((1, 10.0), (2, 20.0)):
        image_id = f"sha256:{n}"
        engine.usage[image_id] = ImageUsage(image_id, (f"devloop/web:{tag(n)}",), 1.0, 10, 0, tagged_at)
    registry = Listed([StoredImage("localhost:5001/devloop/web", tag(1), 15.0, 10, "d1"),
                       StoredImage("localhost:5001/devloop/web", tag(2), 5.0, 10, "d2")])  # fmt: skip
    asyncio.run(prune([EngineStore(lambda: engine), registry], keep=1, apps=["web"]))
    assert [i.tag for i in registry.images] == [tag(2)]
    assert [u.tags for u in engine.usage.values()] == [(f"devloop/web:{tag(2)}",)]
