"""Process types in the engine's state: web is what `running`, `crashed` and the 503 page count."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from devloop.core import events as ev
from devloop.core.processes import (
    main_memory_mb,
    problems,
    process_summary,
    process_types,
    process_view,
    sidecars_of,
)
from devloop.core.spec import AppSpec, HealthCheck, HealthCheckType, ProcessSpec, SidecarSpec
from devloop.core.state import EngineState, Phase, reduce, why_not_serving

APP = AppSpec(
    "shop",
    Path("/src"),
    image="shop:1",
    instances=2,
    memory_mb=256,
    command="python app.py",
    routes=("shop.example.com",),
    processes=(ProcessSpec("worker", "python worker.py", 1, 64, HealthCheck(HealthCheckType.PROCESS)),),
    sidecars=(
        SidecarSpec("stats", "python stats.py", ("web", "worker")),
        SidecarSpec("tap", "tap", ("web",)),
    ),
)


def status(process: str, index: int, state: str, sidecar: str = "") -> ev.InstanceStatus:
    return ev.InstanceStatus("shop", index, f"{process}-{index}", state, process=process, sidecar=sidecar)


def running_app() -> EngineState:
    state = EngineState.initial((APP,))
    for event in (ev.PlatformReady("test"), ev.DeployStarted("shop", "shop:1"),
                  ev.DeploySucceeded("shop", "shop:1", "http://shop.localhost:8080", 1.0)):  # fmt: skip
        state = reduce(state, event)
    return state


def test_each_process_type_is_a_view_of_the_app_with_its_own_values_and_no_route() -> None:
    assert process_types(APP) == ("web", "worker")
    assert process_view(APP, "web") is APP
    worker = process_view(APP, "worker")
    assert (worker.command, worker.instances, worker.memory_mb) == ("python worker.py", 1, 64)
    assert worker.no_route and worker.routes == () and worker.health.type is HealthCheckType.PROCESS
    assert worker.env == APP.env and worker.services == APP.services  # same bindings, same image
    assert [s.name for s in sidecars_of(APP, "web")] == ["stats", "tap"]
    assert [s.name for s in sidecars_of(APP, "worker")] == ["stats"]


def test_a_crashing_worker_does_not_make_the_app_crashed_but_crashed_web_instances_do() -> None:
    state = running_app()
    worker_down = (status("web", 0, "running"), status("web", 1, "running"), status("worker", 0, "crashed"),
                   status("web", 0, "running", sidecar="stats"))  # fmt: skip
    state = reduce(state, ev.InstancesChanged("shop", worker_down))
    app = state.apps["shop"]
    assert app.phase is Phase.RUNNING and app.running == 2  # the sidecar is not a third instance
    assert process_summary(app.spec, app.instances)["worker"] == {
        "running": 0, "desired": 1, "state": "crashed", "memory": "64M"
    }  # fmt: skip
    web_down = (status("web", 0, "crashed"), status("web", 1, "crashed"), status("worker", 0, "running"))
    state = reduce(state, ev.InstancesChanged("shop", web_down))
    assert state.apps["shop"].phase is Phase.CRASHED
    assert why_not_serving(state.apps["shop"]).startswith("crashed")


def test_an_app_with_only_workers_is_crashed_when_they_all_are() -> None:
    state = EngineState.initial((replace(APP, instances=0),))
    for event in (ev.PlatformReady("test"), ev.DeployStarted("shop", "shop:1"),
                  ev.DeploySucceeded("shop", "shop:1", None, 1.0)):  # fmt: skip
        state = reduce(state, event)
    state = reduce(state, ev.InstancesChanged("shop", (status("worker", 0, "running"),)))
    assert state.apps["shop"].phase is Phase.RUNNING
    state = reduce(state, ev.InstancesChanged("shop", (status("worker", 0, "crashed"),)))
    assert state.apps["shop"].phase is Phase.CRASHED


def test_instance_labels_name_the_process_and_the_sidecar() -> None:
    assert status("web", 1, "running").label == "1"
    assert status("worker", 0, "running").label == "worker/0"
    assert status("web", 0, "running", sidecar="stats").label == "stats/0"
    assert status("worker", 2, "running", sidecar="stats").label == "worker/stats/2"
    assert status("web", 0, "running", sidecar="stats").key != status("web", 0, "running").key


def test_scaling_a_process_type_changes_only_its_count_and_redeploys() -> None:
    state = reduce(running_app(), ev.ScaleRequested("shop", 3, None, "worker"))
    app = state.apps["shop"]
    assert app.redeploy and app.spec.instances == 2  # web unchanged
    assert [(p.type, p.instances, p.memory_mb) for p in app.spec.processes] == [("worker", 3, 64)]
    state = reduce(state, ev.ScaleRequested("shop", 1, 512))
    assert (state.apps["shop"].spec.instances, state.apps["shop"].spec.memory_mb) == (1, 512)
    assert state.apps["shop"].spec.processes[0].instances == 3


def test_sidecars_asking_for_all_of_a_processs_memory_are_refused_as_cf_refuses_them() -> None:
    stats = SidecarSpec("stats", "python stats.py", ("web",), 128)
    app = AppSpec("web", Path("."), memory_mb=128, sidecars=(stats,))
    assert problems(app) == [(("sidecars", 0, "memory"), "the sidecars of process 'web' ask for 128M, but "
                              "the process has 128M in all: as in cf, a process's memory holds its sidecars' "
                              "(raise the process's memory)")]  # fmt: skip
    assert main_memory_mb(256, (stats,)) == 128 and main_memory_mb(None, (stats,)) is None
