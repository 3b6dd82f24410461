"""What a raw Pod, node or Deployment says in devloop's terms: instance states, stall reasons. Pure.

Kept out of the provider (as tilt keeps its k8sconv beside its controllers) so that
how a pod's status becomes an instance, and why a rollout is stuck, is tested
from plain dicts without an API server.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import NamedTuple

from devloop.adapters.kubewire import Obj
from devloop.core.events import InstancesChanged, InstanceStatus
from devloop.core.processes import WEB, process_types, process_view
from devloop.core.spec import AppSpec

LABEL_PROJECT = "devloop.dev/project"
LABEL_APP = "app.kubernetes.io/name"
LABEL_COMPONENT = "app.kubernetes.io/component"
STALLED = {  # container waiting reasons that do not fix themselves
    "ImagePullBackOff": "cannot pull its image",
    "ErrImagePull": "cannot pull its image",
    "ErrImageNeverPull": "has imagePullPolicy Never and its image is not on the node",
    "InvalidImageName": "has an invalid image name",
    "CreateContainerConfigError": "cannot be configured",
    "CreateContainerError": "cannot be created",
    "RunContainerError": "cannot start",
    "CrashLoopBackOff": "keeps crashing",
}
TRANSIENT_TAINTS = ("not-ready", "unreachable", "network-unavailable")


def selector(project: str, app: str | None = None) -> str:
    """The label selector of a project's objects (of one app's, given `app`)."""
    chosen = f"{LABEL_PROJECT}={project}"
    return f"{chosen},{LABEL_APP}={app}" if app is not None else chosen


def app_of(pod: Obj) -> str | None:
    """The app a pod belongs to, by devloop's label."""
    return (pod["metadata"].get("labels") or {}).get(LABEL_APP)


def container_of(pod: Obj, app: str) -> str:
    """The app's container in a pod: the one named after the app, else the first (a user's YAML)."""
    names = [c.get("name", "") for c in (pod.get("spec") or {}).get("containers") or []]
    return app if app in names or not names else names[0]


def process_of(obj: Obj) -> str:
    """The cf process type a pod or Deployment runs (devloop's component label); a user's YAML runs web."""
    return str((obj["metadata"].get("labels") or {}).get(LABEL_COMPONENT) or WEB)


def sidecars_in(pod: Obj, app: str) -> list[str]:
    """The names of the pod's other containers: its sidecars."""
    main = container_of(pod, app)
    return [
        c.get("name", "") for c in (pod.get("spec") or {}).get("containers") or [] if c.get("name") != main
    ]


class PodState(NamedTuple):
    """One container's state as an instance shows it."""

    state: str  # starting, running, stopping, exited, crashed
    ready: bool
    restarts: int
    exit_code: int | None


def pod_state(pod: Obj, app: str, container: str | None = None) -> PodState:
    """The state of the app's container (or `container`) in `pod`."""
    meta, status = pod.get("metadata") or {}, pod.get("status") or {}
    name = container or container_of(pod, app)
    statuses = [c for c in status.get("containerStatuses") or [] if c.get("name") == name]
    found = statuses[0] if statuses else {}
    restarts = int(found.get("restartCount", 0))
    state = found.get("state") or {}
    last = (found.get("lastState") or {}).get("terminated") or {}
    if meta.get("deletionTimestamp"):
        return PodState("stopping", False, restarts, None)
    if "running" in state:
        ready = bool(found.get("ready"))
        return PodState("running" if ready else "starting", ready, restarts, None)
    if "terminated" in state:
        code = state["terminated"].get("exitCode")
        return PodState("exited" if code == 0 else "crashed", False, restarts, code)
    waiting = (state.get("waiting") or {}).get("reason", "")
    if waiting in STALLED or status.get("phase") == "Failed":
        return PodState("crashed", False, restarts, last.get("exitCode"))
    return PodState("starting", False, restarts, None)


def is_rollout_pod(pod: Obj, deployment: str, image: str) -> bool:
    """Whether `pod` is one of Deployment `deployment`'s pods running `image` (a rollout's new pods)."""
    return (
        app_of(pod) is not None
        and any(c.get("image") == image for c in pod["spec"].get("containers", []))
        # `NAME-HASH-RANDOM`: not the pods of `NAME-worker`, which also start with `NAME-`
        and re.fullmatch(rf"{re.escape(deployment)}-[a-z0-9]+-[a-z0-9]+", pod["metadata"]["name"]) is not None
    )


def node_ready(node: Obj) -> bool:
    conditions = (node.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def transient_unschedulable(message: str) -> bool:
    """Whether an Unschedulable reason is one a starting node clears by itself (its taints)."""
    return any(f"node.kubernetes.io/{taint}" in message for taint in TRANSIENT_TAINTS)


def unschedulable_message(pod: Obj) -> str | None:
    """The scheduler's message when the pod is Unschedulable, else None."""
    for condition in (pod.get("status") or {}).get("conditions") or []:
        if condition.get("type") == "PodScheduled" and condition.get("reason") == "Unschedulable":
            return str(condition.get("message", ""))
    return None


@dataclass(frozen=True)
class Stall:
    """Why a new pod will not become ready by itself; `crashed`: its container ran and exited."""

    container: str
    why: str
    detail: str | None
    crashed: bool


def container_stall(pod: Obj, memory_mb: int | None) -> Stall | None:
    """The first container of `pod` that is stalled (a waiting reason in STALLED) or crashed."""
    for container in (pod.get("status") or {}).get("containerStatuses") or []:
        waiting = (container.get("state") or {}).get("waiting") or {}
        reason = waiting.get("reason", "")
        terminated = (container.get("lastState") or {}).get("terminated") or {}
        crashed = bool(terminated) and int(container.get("restartCount", 0)) > 0
        if reason in STALLED or crashed:
            if terminated.get("reason") == "OOMKilled":
                why = f"was killed for using more than {memory_mb}M of memory"
            elif crashed:
                why = f"exited with code {terminated.get('exitCode')} before becoming ready"
            else:
                why = STALLED[reason]
            detail = waiting.get("message") if not crashed else None
            return Stall(container["name"], why, detail, crashed)
    return None


class Indexes:
    """Instance indexes per app (or app/process): a pod keeps its index; a new one takes the lowest free."""

    def __init__(self) -> None:
        self._indexes: dict[str, dict[str, int]] = {}  # app -> pod -> instance index

    def index(self, app: str, pod: str, live: set[str]) -> int:
        indexes = self._indexes.setdefault(app, {})
        for gone in [p for p in indexes if p not in live]:
            del indexes[gone]
        if pod not in indexes:
            taken = set(indexes.values())
            indexes[pod] = next(i for i in range(len(taken) + 1) if i not in taken)
        return indexes[pod]


def instance_statuses(app: AppSpec, pods: list[Obj], indexes: Indexes) -> InstancesChanged:
    """One status per pod's process container, and one per sidecar beside it, indexed per
    process type (web/0, worker/0, ...)."""
    ordered = sorted(pods, key=lambda p: (p["metadata"].get("creationTimestamp", ""), p["metadata"]["name"]))
    statuses = []
    for process in sorted({process_of(p) for p in ordered}):
        mine = [p for p in ordered if process_of(p) == process]
        live = {p["metadata"]["name"] for p in mine}
        for pod in mine:
            name = pod["metadata"]["name"]
            index = indexes.index(app.name if process == WEB else f"{app.name}/{process}", name, live)
            ip = (pod.get("status") or {}).get("podIP")
            for sidecar in ["", *sidecars_in(pod, app.name)]:
                state, ready, restarts, code = pod_state(pod, app.name, sidecar or None)
                statuses.append(
                    InstanceStatus(
                        app=app.name,
                        index=index,
                        id=name,
                        state=state,
                        healthy=ready,
                        restarts=restarts,
                        address=f"{ip}:{app.port}" if ip and not sidecar else None,
                        exit_code=code,
                        process=process,
                        sidecar=sidecar,
                    )
                )
    statuses.sort(key=lambda i: (i.process != WEB, i.process, i.index, i.sidecar))
    return InstancesChanged(app.name, tuple(statuses))


def deployment_view(app: AppSpec, deployment: Obj) -> AppSpec:
    """The app as the Deployment's process runs it (its health check, its timeout)."""
    process = process_of(deployment)  # the pod template's label is on the Deployment too
    return process_view(app, process) if process in process_types(app) else app
