"""Pods, nodes and Deployments read as devloop reads them, from plain dicts: no API server."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from devloop.core.spec import AppSpec
from devloop.errors import ProviderError
from devloop.providers.kind import pods, rollout

Obj = dict[str, Any]


def pod(
    name: str, *statuses: Obj, containers: tuple[str, ...] = ("web",), process: str | None = "web", **extra: Any
) -> Obj:
    """A pod of app `web`; `metadata` and `image` go where they belong, the rest into its status."""
    labels = {"app.kubernetes.io/name": "web"}
    if process is not None:
        labels["app.kubernetes.io/component"] = process
    metadata, image = extra.pop("metadata", {}), extra.pop("image", "devloop/web:1")
    return {
        "metadata": {"name": name, "labels": labels, **metadata},
        "spec": {"containers": [{"name": c, "image": image} for c in containers]},
        "status": {"containerStatuses": list(statuses), **extra},
    }


def running(name: str = "web", ready: bool = True, restarts: int = 0) -> Obj:
    return {"name": name, "state": {"running": {}}, "ready": ready, "restartCount": restarts}


def waiting(reason: str, name: str = "web", message: str = "", **more: Any) -> Obj:
    return {"name": name, "state": {"waiting": {"reason": reason, "message": message}}, **more}


def test_a_containers_state_becomes_an_instance_state() -> None:
    assert pods.pod_state(pod("a", running()), "web") == ("running", True, 0, None)
    assert pods.pod_state(pod("a", running(ready=False, restarts=2)), "web") == ("starting", False, 2, None)
    stopping = pod("a", running(), metadata={"deletionTimestamp": "2026-01-01T00:00:00Z"})
    assert pods.pod_state(stopping, "web").state == "stopping"
    done = {"name": "web", "state": {"terminated": {"exitCode": 0}}}
    failed = {"name": "web", "state": {"terminated": {"exitCode": 3}}}
    assert pods.pod_state(pod("a", done), "web") == ("exited", False, 0, 0)
    assert pods.pod_state(pod("a", failed), "web") == ("crashed", False, 0, 3)
    backoff = waiting("CrashLoopBackOff", lastState={"terminated": {"exitCode": 137}}, restartCount=4)
    assert pods.pod_state(pod("a", backoff), "web") == ("crashed", False, 4, 137)
    assert pods.pod_state(pod("a", waiting("ContainerCreating")), "web") == ("starting", False, 0, None)
    assert pods.pod_state(pod("a"), "web").state == "starting"  # no status yet


def test_the_apps_container_is_the_one_named_after_it_else_the_first() -> None:
    mine = pod("a", running("proxy", ready=False), running("web"), containers=("proxy", "web"))
    assert pods.container_of(mine, "web") == "web"
    assert pods.sidecars_in(mine, "web") == ["proxy"]
    assert pods.pod_state(mine, "web").ready and not pods.pod_state(mine, "web", "proxy").ready
    users = pod("a", containers=("main", "helper"))
    assert pods.container_of(users, "web") == "main" and pods.sidecars_in(users, "web") == ["helper"]


def test_a_pod_without_a_component_label_is_a_web_instance() -> None:
    assert pods.process_of(pod("a", process=None)) == "web"
    assert pods.process_of(pod("a", process="worker")) == "worker"


def test_stalls_and_crashes_say_why() -> None:
    pull = waiting("ImagePullBackOff", message="not found: devloop/web:1")
    assert pods.container_stall(pod("a", pull), 256) == pods.Stall(
        "web", "cannot pull its image", "not found: devloop/web:1", False
    )
    never = waiting("ErrImageNeverPull", message='Container image "devloop/web:1" is not present')
    stall = pods.container_stall(pod("a", never), 256)
    assert stall is not None and stall.why == "has imagePullPolicy Never and its image is not on the node"
    crashed = running(ready=False, restarts=1) | {"lastState": {"terminated": {"exitCode": 2}}}
    assert pods.container_stall(pod("a", crashed), 256) == pods.Stall(
        "web", "exited with code 2 before becoming ready", None, True
    )
    oom = running(ready=False, restarts=1) | {"lastState": {"terminated": {"reason": "OOMKilled"}}}
    stall = pods.container_stall(pod("a", oom), 256)
    assert stall is not None and stall.why == "was killed for using more than 256M of memory"
    assert pods.container_stall(pod("a", running(ready=False)), 256) is None  # starting is no stall


def test_unschedulable_is_read_and_a_starting_nodes_taint_is_transient() -> None:
    stuck = pod("a", conditions=[{"type": "PodScheduled", "reason": "Unschedulable", "message": "0/1 nodes"}])
    assert pods.unschedulable_message(stuck) == "0/1 nodes"
    assert pods.unschedulable_message(pod("a", conditions=[{"type": "PodScheduled", "status": "True"}])) is None
    assert pods.transient_unschedulable("1 node(s) had untolerated taint {node.kubernetes.io/not-ready: }")
    assert not pods.transient_unschedulable("1 node(s) had untolerated taint {dedicated: gpu}")


def test_a_rollouts_new_pods_are_its_deployments_running_its_image() -> None:
    assert pods.is_rollout_pod(pod("web-5d9c7-x2k4p"), "web", "devloop/web:1")
    assert not pods.is_rollout_pod(pod("web-worker-5d9c7-x2k4p"), "web", "devloop/web:1")
    assert not pods.is_rollout_pod(pod("web-5d9c7-x2k4p", image="devloop/web:0"), "web", "devloop/web:1")


def test_a_node_is_ready_by_its_ready_condition() -> None:
    assert pods.node_ready({"status": {"conditions": [{"type": "Ready", "status": "True"}]}})
    assert not pods.node_ready({"status": {"conditions": [{"type": "Ready", "status": "False"}]}})
    assert not pods.node_ready({})


def test_an_instance_keeps_its_index_and_a_new_one_takes_the_lowest_free() -> None:
    indexes = pods.Indexes()
    assert [indexes.index("web", p, {"a", "b", "c"}) for p in "abc"] == [0, 1, 2]
    assert indexes.index("web", "d", {"a", "c", "d"}) == 1  # b is gone: its index is free again
    assert indexes.index("web", "c", {"a", "c", "d"}) == 2
    assert indexes.index("web/worker", "w", {"w"}) == 0  # each process type counts on its own


def test_instance_statuses_list_web_first_then_workers_with_sidecars_beside_their_pod(tmp_path: Path) -> None:
    app = AppSpec("web", tmp_path, port=8080)
    web = pod("web-1-a", running(), running("proxy"), containers=("web", "proxy"), podIP="10.0.0.5",
              metadata={"creationTimestamp": "2026-01-01T00:00:01Z"})  # fmt: skip
    worker = pod("web-worker-1-b", running(), process="worker", metadata={"creationTimestamp": "2026-01-01T00:00:00Z"})
    changed = pods.instance_statuses(app, [worker, web], pods.Indexes())
    assert changed.app == "web"
    seen = [(i.process, i.index, i.sidecar, i.id, i.address) for i in changed.instances]
    assert seen == [
        ("web", 0, "", "web-1-a", "10.0.0.5:8080"),
        ("web", 0, "proxy", "web-1-a", None),  # a sidecar has no address of its own
        ("worker", 0, "", "web-worker-1-b", None),  # no pod IP yet
    ]


def test_a_rollout_is_done_only_once_this_generation_is_observed() -> None:
    def deployment(observed: int, conditions: list[Obj] | None = None) -> Obj:
        status = {"observedGeneration": observed, "updatedReplicas": 2, "availableReplicas": 2, "replicas": 2}
        return {"metadata": {"generation": 2}, "spec": {"replicas": 2},
                "status": {**status, "conditions": conditions or []}}  # fmt: skip

    assert rollout.rollout_done(deployment(2)) and not rollout.rollout_done(deployment(1))
    stalled = [{"type": "Progressing", "reason": "ProgressDeadlineExceeded", "message": "web timed out"}]
    assert rollout.deadline_exceeded(deployment(2, stalled)) == "web timed out"
    assert rollout.deadline_exceeded(deployment(1, stalled)) is None  # the previous rollout's condition


def test_labelled_objects_carry_the_project_and_app_and_refuse_another_apps_pods() -> None:
    deployment = {"kind": "Deployment", "metadata": {"name": "web"},
                  "spec": {"template": {"metadata": {"labels": {"app": "web"}}}}}  # fmt: skip
    out = rollout.labelled(deployment, "proj", "web")
    assert out["metadata"]["labels"] == {pods.LABEL_PROJECT: "proj", pods.LABEL_APP: "web"}
    assert out["spec"]["template"]["metadata"]["labels"] == {
        pods.LABEL_COMPONENT: "web", "app": "web", pods.LABEL_PROJECT: "proj", pods.LABEL_APP: "web"
    }
    assert "labels" not in deployment["metadata"]  # the caller's object stays as built
    deployment["spec"]["template"]["metadata"]["labels"][pods.LABEL_APP] = "api"
    with pytest.raises(ProviderError, match=r"its pods are labelled app\.kubernetes\.io/name=api"):
        rollout.labelled(deployment, "proj", "web")


def test_the_selector_narrows_to_one_app() -> None:
    assert pods.selector("proj") == "devloop.dev/project=proj"
    assert pods.selector("proj", "web") == "devloop.dev/project=proj,app.kubernetes.io/name=web"
