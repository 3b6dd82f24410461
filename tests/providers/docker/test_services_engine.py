"""The docker provider's backing services against a fake engine: what is created, how readiness is
waited for, what a purge removes (tests/providers/docker/test_services.py runs real databases)."""

from __future__ import annotations

from pathlib import Path

import pytest

from devloop.adapters.dockerapi import ContainerSpec, PortBinding
from devloop.core.services import CATALOG, ServiceSpec
from devloop.errors import DeployError
from devloop.providers.docker.services import LABEL_SERVICE, DockerServices
from tests.fakes.docker import FakeDockerEngine


@pytest.fixture
def engine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeDockerEngine:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    return FakeDockerEngine()


def services(engine: FakeDockerEngine) -> DockerServices:
    return DockerServices(lambda: engine, "proj-1234", "devloop-proj-1234")


async def test_a_missing_service_is_pulled_started_on_the_network_and_waited_for(engine: FakeDockerEngine) -> None:
    db = ServiceSpec("db", CATALOG["postgres"], host_port=15432)
    engine.exec_codes = [2]  # not ready at the first ask
    said: list[str] = []
    credentials = await services(engine).ensure(db, said.append)
    ((spec,),) = engine.called("create_container")
    assert isinstance(spec, ContainerSpec)
    assert (spec.name, spec.network, spec.aliases) == ("devloop-svc-proj-1234-db", "devloop-proj-1234", ("db",))
    assert spec.volumes == (("devloop-proj-1234-db", CATALOG["postgres"].data_path),)
    assert spec.ports == (PortBinding(CATALOG["postgres"].port, 15432, "127.0.0.1"),)
    assert spec.labels["devloop.project"] == "proj-1234" and spec.labels[LABEL_SERVICE] == "db"
    assert spec.restart_policy == "unless-stopped" and spec.security_opt == ("no-new-privileges",)
    assert engine.called("pull") and engine.volume_labels["devloop-proj-1234-db"][LABEL_SERVICE] == "db"
    assert len(engine.called("exec")) == 2  # asked again until its client answered
    assert said[-2:] == [f"starting service db (postgres, {db.image})", "service db is ready"]
    assert credentials.password == services(engine).password(db, create=False)  # kept for the next run


async def test_a_running_service_as_configured_is_kept_and_a_stale_one_replaced(engine: FakeDockerEngine) -> None:
    queue = ServiceSpec("queue", CATALOG["redis"])
    await services(engine).ensure(queue, lambda _text: None)
    first = engine.named("devloop-svc-proj-1234-queue").info.id
    await services(engine).ensure(queue, lambda _text: None)  # a new devloop: same config
    assert engine.named("devloop-svc-proj-1234-queue").info.id == first
    assert len(engine.called("create_container")) == 1
    await services(engine).ensure(ServiceSpec("queue", CATALOG["redis"], host_port=16379), lambda _text: None)
    assert engine.called("remove_container") == [(first,)]  # its data stays in the volume
    assert engine.named("devloop-svc-proj-1234-queue").info.id != first


async def test_a_service_that_exits_or_never_answers_holds_its_apps_back(engine: FakeDockerEngine) -> None:
    db = ServiceSpec("db", CATALOG["postgres"])
    engine.images.add(db.image)
    box = services(engine)
    original_start = engine.start

    def start_and_crash(ref: str) -> None:
        original_start(ref)
        engine.named(ref).logs = ("FATAL: data directory has wrong ownership",)
        engine.exit(ref, 1)

    engine.start = start_and_crash  # type: ignore[method-assign]
    with pytest.raises(DeployError, match="service db exited with code 1 before it was ready") as caught:
        await box.ensure(db, lambda _text: None)
    assert caught.value.lines == ("FATAL: data directory has wrong ownership",)
    engine.start = original_start  # type: ignore[method-assign]
    engine.remove_container("devloop-svc-proj-1234-db")
    engine.exec_codes = [1]
    with pytest.raises(DeployError, match=r"service db \(postgres\) was not ready within 0s"):
        await box.ensure(ServiceSpec("db", CATALOG["postgres"], ready_timeout_s=0), lambda _text: None)


async def test_states_and_a_purge_that_removes_containers_volumes_and_passwords(engine: FakeDockerEngine) -> None:
    box = services(engine)
    await box.ensure(ServiceSpec("db", CATALOG["postgres"]), lambda _text: None)
    await box.ensure(ServiceSpec("queue", CATALOG["redis"]), lambda _text: None)
    engine.add_container("other-project-db", labels={"devloop.project": "other", LABEL_SERVICE: "db"})
    assert box.states() == {"db": "running", "queue": "running"}
    assert box.remove(purge=False) == (("db", "queue"), ())
    assert [timeout for _ref, timeout in engine.called("stop")] == [10, 10]  # a clean database shutdown
    assert sorted(engine.volume_labels) == ["devloop-proj-1234-db", "devloop-proj-1234-queue"]  # data kept
    assert box.passwords_file.exists()
    await box.ensure(ServiceSpec("db", CATALOG["postgres"]), lambda _text: None)
    assert box.remove(purge=True) == (("db",), ("devloop-proj-1234-db", "devloop-proj-1234-queue"))
    assert not box.passwords_file.exists() and [c.name for c in engine.containers([])] == ["other-project-db"]
