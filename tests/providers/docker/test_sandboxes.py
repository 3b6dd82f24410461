"""Network sandboxes on a FakeDockerEngine that refuses what Docker refuses: parked off the
project's network, taken by one instance each with its aliases and ports, gone with it."""

from __future__ import annotations

from pathlib import Path

import pytest

from devloop.adapters.dockerapi import ContainerSpec, PortBinding
from devloop.core.spec import AppSpec, SidecarSpec
from devloop.errors import DockerConflictError, DockerRefusedError
from devloop.providers.docker.containers import Containers
from devloop.providers.docker.labels import LABEL_APP, LABEL_PROJECT
from devloop.providers.docker.sandboxes import PARK_COMMAND, Shape, is_sandbox
from tests.fakes.docker import FakeDockerEngine

APP = AppSpec("web", Path("."), port=8080, command="serve", memory_mb=256, instances=2)
NETWORK = "devloop-p"


def engine_with_network() -> FakeDockerEngine:
    engine = FakeDockerEngine(images=["img:1", "img:2"])
    # Images devloop builds carry its labels; containers made from them inherit them.
    engine.image_labels = {"img:1": {LABEL_PROJECT: "p", LABEL_APP: "web"}, "img:2": {LABEL_APP: "web"}}
    engine.create_network(NETWORK, {LABEL_PROJECT: "p"})
    return engine


def sandboxes_of(engine: FakeDockerEngine) -> list[str]:
    return [c.id for c in engine.containers([f"{LABEL_PROJECT}=p"]) if is_sandbox(c)]


def created(engine: FakeDockerEngine) -> list[ContainerSpec]:
    return [spec for (spec,) in engine.called("create_container") if isinstance(spec, ContainerSpec)]


def test_a_refill_parks_one_sandbox_per_instance_off_the_network_with_its_ports() -> None:
    engine = engine_with_network()
    containers = Containers("p", engine)
    containers.refill_sandboxes(APP, "img:1")
    parked = [engine.container(i) for i in sandboxes_of(engine)]
    assert len(parked) == 2
    assert all(s.status == "running" and s.networks == () and s.ports == () for s in parked)
    assert not any(engine.aliases)  # no name of the app resolves to a sandbox nothing listens in
    spec = created(engine)[0]
    assert spec.entrypoint == PARK_COMMAND and spec.ports == (PortBinding(8080, None),)
    assert spec.network == NETWORK and spec.aliases == ()
    containers.refill_sandboxes(APP, "img:2")  # a newer image: the parked ones still fit
    assert len(created(engine)) == 2
    assert containers.summaries(APP) == []  # they carry the image's app label, yet are no instances


def test_an_instance_starts_in_a_parked_sandbox_and_takes_its_ports_and_aliases() -> None:
    engine = engine_with_network()
    containers = Containers("p", engine)
    containers.refill_sandboxes(APP, "img:1")
    first = containers.start_instance(APP, "img:2", 0, "g1", 18080, sidecars=(SidecarSpec("stats", "s"),))
    second = containers.start_instance(APP, "img:2", 1, "g1", 18080)
    spec = next(s for s in created(engine) if s.name == "devloop-web-g1-0")
    sandbox = spec.network.removeprefix("container:") if spec.network else ""
    assert sandbox in sandboxes_of(engine) and spec.ports == () and spec.aliases == ()
    assert engine.aliases[(NETWORK, engine.container(sandbox).name)] == ("web",)
    assert first.ports == engine.container(sandbox).ports != ()
    assert containers.get(first.id).ports == first.ports  # each inspect says where it is published
    assert second.network_mode != first.network_mode  # side by side, never the same sandbox
    third = containers.start_instance(APP, "img:2", 2, "g1", 18080)  # none parked left: its own network
    assert third.network_mode == NETWORK and [p.container_port for p in third.ports] == [8080]
    containers.stop_and_remove([first.id])
    assert sandbox not in sandboxes_of(engine)  # gone with its instance: its aliases too
    assert (NETWORK, engine.container(second.network_mode.removeprefix("container:")).name) in engine.aliases


def test_an_image_with_no_shell_parks_nothing_and_is_not_tried_again() -> None:
    engine = engine_with_network()
    engine.fail("start", DockerRefusedError('exec: "/bin/sh": stat /bin/sh: no such file or directory'))
    containers = Containers("p", engine)
    containers.refill_sandboxes(APP, "img:1")
    assert sandboxes_of(engine) == [] and len(created(engine)) == 1
    containers.refill_sandboxes(APP, "img:1")
    assert len(created(engine)) == 1
    instance = containers.start_instance(APP, "img:1", 0, "g1", 18080)
    assert instance.network_mode == NETWORK and instance.ports


def test_a_refill_removes_a_sandbox_whose_instance_went_behind_its_back() -> None:
    engine = engine_with_network()
    containers = Containers("p", engine)
    containers.refill_sandboxes(APP, "img:1")
    kept = containers.start_instance(APP, "img:1", 0, "g1", 18080)
    lost = containers.start_instance(APP, "img:1", 1, "g1", 18080)
    engine.remove_container(lost.id)  # `docker rm -f` by hand
    containers.refill_sandboxes(APP, "img:1")
    in_use = kept.network_mode.removeprefix("container:")
    assert lost.network_mode.removeprefix("container:") not in sandboxes_of(engine)
    assert in_use in sandboxes_of(engine) and len(sandboxes_of(engine)) == 3  # in use + 2 parked


def test_no_sandbox_is_made_while_the_project_is_being_removed() -> None:
    engine = engine_with_network()
    containers = Containers("p", engine)
    containers.sandboxes.hold()
    containers.refill_sandboxes(APP, "img:1")
    assert sandboxes_of(engine) == []
    containers.sandboxes.resume()
    containers.refill_sandboxes(APP, "img:1")
    assert len(sandboxes_of(engine)) == 2


def test_a_refill_for_fewer_instances_or_other_ports_removes_the_extra_ones() -> None:
    engine = engine_with_network()
    containers = Containers("p", engine)
    containers.refill_sandboxes(APP, "img:1")
    containers.refill_sandboxes(AppSpec("web", Path("."), port=8080, instances=1), "img:1")
    assert len(sandboxes_of(engine)) == 1
    containers.refill_sandboxes(AppSpec("web", Path("."), port=9090, instances=1), "img:1")
    (only,) = sandboxes_of(engine)
    assert engine.container(only).labels["devloop.sandbox.ports"] == "9090"
    assert Shape("web", "web", "img:1", (9090,)).fits(engine.container(only))


def test_the_fake_engine_refuses_what_docker_refuses_for_a_shared_network() -> None:
    engine = engine_with_network()
    owner = engine.create_container(ContainerSpec("img:1", "owner", network=NETWORK))
    with pytest.raises(DockerRefusedError, match="conflicting options"):
        engine.create_container(ContainerSpec("img:1", "x", network=f"container:{owner}",
                                              ports=(PortBinding(80, None),)))  # fmt: skip
    joiner = engine.create_container(ContainerSpec("img:1", "y", network=f"container:{owner}"))
    with pytest.raises(DockerConflictError, match="non running"):
        engine.start(joiner)
    engine.start(owner)
    with pytest.raises(DockerRefusedError, match="already exists"):
        engine.connect_network(NETWORK, owner)
    with pytest.raises(DockerRefusedError, match="cannot be connected"):
        engine.connect_network(NETWORK, joiner)
    engine.disconnect_network(NETWORK, owner)
    with pytest.raises(DockerRefusedError, match="is not connected"):
        engine.disconnect_network(NETWORK, owner)
