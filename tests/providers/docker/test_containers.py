"""The docker provider's containers on a FakeDockerEngine: what an instance and its sidecars are
created with, and what is left behind when a start fails."""

from __future__ import annotations

from pathlib import Path

import pytest

from devloop.adapters.dockerapi import ContainerSpec, PortBinding
from devloop.core.spec import AppSpec, SidecarSpec
from devloop.errors import DockerRefusedError, DockerUnavailableError
from devloop.providers.docker.containers import Containers
from devloop.providers.docker.labels import LABEL_SIDECAR, instance_of, sidecars_among
from tests.fakes.docker import FakeDockerEngine

APP = AppSpec("web", Path("."), port=8080, command="serve", memory_mb=256)
STATS = SidecarSpec("stats", "run-stats", memory_mb=64)


def created(engine: FakeDockerEngine) -> list[ContainerSpec]:
    return [spec for (spec,) in engine.called("create_container") if isinstance(spec, ContainerSpec)]


def test_an_instance_is_published_on_loopback_and_its_sidecar_shares_its_network() -> None:
    engine = FakeDockerEngine(images=["img:1"])
    containers = Containers("p", engine)
    main = containers.start_instance(APP, "img:1", 0, "g1", 18080, sidecars=(STATS,))
    spec, sidecar = created(engine)
    assert (spec.name, spec.network, spec.restart_policy, spec.memory_mb) == (
        "devloop-web-g1-0",
        "devloop-p",
        "no",
        192,
    )
    assert spec.ports == (PortBinding(8080, None),) and spec.entrypoint == ("/bin/sh", "-c", "serve")
    assert "web" in spec.aliases and spec.security_opt == ("no-new-privileges",) and spec.init
    assert (sidecar.network, sidecar.ports, sidecar.aliases, sidecar.memory_mb) == (
        f"container:{main.id}",
        (),
        (),
        64,
    )
    assert sidecar.labels[LABEL_SIDECAR] == "stats"
    assert main.status == "running" and engine.network_exists("devloop-p")
    listed = containers.summaries(APP)
    assert [s.labels.get(LABEL_SIDECAR) for s in sidecars_among(listed, main.id)] == ["stats"]
    assert {instance_of(s) for s in sidecars_among(listed, main.id)} == {main.id}


class SidecarWontStart(FakeDockerEngine):
    def start(self, ref: str) -> None:
        super().start(ref)
        if self.named(ref).info.name.endswith("-stats"):
            raise DockerRefusedError("no")


def test_a_sidecar_that_cannot_start_takes_its_instance_with_it() -> None:
    engine = SidecarWontStart(images=["img:1"])
    with pytest.raises(DockerRefusedError):
        Containers("p", engine).start_instance(APP, "img:1", 0, "g1", 18080, sidecars=(STATS,))
    assert len(engine.called("create_container")) == 2 and engine.containers_by_id == {}


def test_removing_what_is_already_gone_is_no_error() -> None:
    engine = FakeDockerEngine(images=["img:1"])
    one = engine.add_container("devloop-web-g1-0")
    Containers("p", engine).stop_and_remove([one.id, "gone"])
    assert engine.containers_by_id == {}


async def test_an_engine_that_goes_away_is_named_with_its_reason() -> None:
    engine = FakeDockerEngine()
    engine.fail("containers", DockerUnavailableError("lost", reason="the engine is not running"))
    containers = Containers("p", engine)
    with pytest.raises(
        DockerUnavailableError, match=r"^the Docker engine at .* is not answering: the engine is not running$"
    ):
        await containers.call(containers.summaries, None)


async def test_an_instance_that_exited_right_after_its_health_check_is_started_and_kept_restarting() -> None:
    """Docker refuses to update a stopped container ("cannot update a stopped container"): once
    seen under load as a failed deploy of a healthy app. It is started again, then kept restarting."""
    from devloop.providers.docker.rollout import RESTART_POLICY, Rollout
    from devloop.providers.docker.rotation import Routing
    from devloop.providers.shared import Background
    from devloop.router.router import Router

    engine = FakeDockerEngine(images=["img:1"])
    one = engine.add_container("devloop-web-g1-0")
    engine.exit(one.id, 0)
    engine.fail("set_restart_policy", DockerRefusedError("cannot update a stopped container: unknown"))
    containers, router, background = Containers("p", engine), Router(0), Background()
    rollout = Rollout(containers, Routing(router, background), router, background, 0)
    await rollout._keep_restarting([one])
    assert engine.called("start") == [(one.id,)]
    assert engine.called("set_restart_policy")[-1] == (one.id, RESTART_POLICY)
    assert engine.named("devloop-web-g1-0").info.running
