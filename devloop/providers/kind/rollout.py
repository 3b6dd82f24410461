"""Putting an app's objects on the cluster and waiting until its new pods serve, or saying why not.

Server-side apply of the labelled objects, pruning what devloop made and no
longer wants, and the rollout wait: a Deployment's status read as `kubectl
rollout status` reads it (conditions only once observedGeneration caught up),
the new pods' stalls and crashes turned into one DeployError with their logs.
"""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime

from devloop.adapters import dockersdk
from devloop.adapters.kube import KubeClient
from devloop.adapters.kubewire import Obj, plural
from devloop.core.spec import AppSpec
from devloop.errors import DevloopError, ProviderError
from devloop.providers.base import DeployError, Progress
from devloop.providers.kind.cluster import Cluster
from devloop.providers.kind.pods import (
    LABEL_APP,
    LABEL_COMPONENT,
    LABEL_PROJECT,
    container_of,
    container_stall,
    is_rollout_pod,
    selector,
    transient_unschedulable,
    unschedulable_message,
)
from devloop.providers.kind.service_objects import is_backing_service

POLL_S = 0.2  # rollout status is polled: two small GETs, cheap next to a pod start
UNSCHEDULABLE_S = 15.0  # a pod Unschedulable this long, for a reason that is not a starting node's, fails
# What devloop applies and therefore prunes: (apiVersion, kind).
PRUNED_KINDS = (
    ("apps/v1", "Deployment"),
    ("apps/v1", "StatefulSet"),
    ("v1", "Service"),
    ("v1", "ConfigMap"),
    ("v1", "Secret"),
    ("networking.k8s.io/v1", "Ingress"),
    ("policy/v1", "PodDisruptionBudget"),
)


def rollout_done(deployment: Obj) -> bool:
    """Whether the controller saw this generation and every replica is updated and available."""
    spec, status = deployment.get("spec") or {}, deployment.get("status") or {}
    wanted = int(spec.get("replicas", 1))
    return generation_observed(deployment) and all(
        int(status.get(field, 0)) == wanted for field in ("updatedReplicas", "availableReplicas", "replicas")
    )


def generation_observed(deployment: Obj) -> bool:
    status = deployment.get("status") or {}
    return int(status.get("observedGeneration", 0)) >= int(deployment["metadata"].get("generation", 1))


def deadline_exceeded(deployment: Obj) -> str | None:
    """The message of a ProgressDeadlineExceeded condition of this generation's rollout, else None."""
    # Until the controller has seen this generation, its conditions are the previous
    # rollout's (a past ProgressDeadlineExceeded stays there): read them only after, as
    # `kubectl rollout status` does.
    status = deployment.get("status") or {}
    for condition in status.get("conditions") or [] if generation_observed(deployment) else []:
        if condition.get("type") == "Progressing" and condition.get("reason") == "ProgressDeadlineExceeded":
            return str(condition.get("message", "the rollout stalled"))
    return None


class Rollouts:
    """Applies, prunes and waits in one project's namespace; remembers since when pods are unschedulable."""

    def __init__(self, cluster: Cluster, namespace: str, project: str) -> None:
        self.cluster = cluster
        self.namespace = namespace
        self.project = project  # the project's label value
        self._unschedulable: dict[str, float] = {}  # pod -> when it was first seen Unschedulable

    @property
    def kube(self) -> KubeClient:
        return self.cluster.kube

    async def apply(self, owner: str, objects: list[Obj]) -> None:
        """Each object labelled as `owner`'s (an app or a service) and applied server-side."""
        for obj in objects:
            await self.kube.apply(labelled(obj, self.project, owner), self.namespace)

    async def prune(
        self, app: AppSpec | None, keep: set[tuple[str, str]], keep_credentials: bool = False
    ) -> None:
        """Delete objects devloop made for `app` (all apps: None) that are not in `keep`; with
        `keep_credentials`, the services' credentials Secrets stay (their data, which holds the
        password, outlives the StatefulSets)."""
        chosen = selector(self.project, app.name if app is not None else None)
        for version, kind in PRUNED_KINDS:
            listing = await self.kube.list_objects(version, plural(kind)[0], self.namespace, chosen)
            for item in listing.get("items") or []:
                name = item["metadata"]["name"]
                if keep_credentials and kind == "Secret" and is_backing_service(item):
                    continue
                if (kind, name) not in keep:
                    await self.kube.delete(version, f"{plural(kind)[0]}/{name}", self.namespace)

    async def wait(self, app: AppSpec, name: str, image: str, progress: Progress) -> None:
        """Until the new pods are all ready and the old ones gone; a stall raises with its reason."""
        budget = app.health.timeout_s + 60  # pulling and scheduling come before the app's own start
        deadline = time.monotonic() + budget
        reported = ""
        while True:
            deployment = await self.kube.get("apps/v1", f"deployments/{name}", self.namespace)
            if deployment is None:
                raise DeployError(f"{app.name}: Deployment {name} disappeared during its rollout")
            if rollout_done(deployment):
                return
            exceeded = deadline_exceeded(deployment)
            if exceeded is not None:
                raise DeployError(f"{app.name}: {exceeded}")
            await self._raise_if_stalled(app, name, image)
            status = deployment.get("status") or {}
            wanted = int((deployment.get("spec") or {}).get("replicas", 1))
            updated, ready = status.get("updatedReplicas", 0), status.get("readyReplicas", 0)
            line = f"{name}: {updated}/{wanted} updated, {ready} ready"
            if line != reported:
                progress(line)
                reported = line
            if time.monotonic() > deadline:
                raise DeployError(
                    f"{app.name}: the rollout of {name} did not finish within {budget}s "
                    f"({status.get('updatedReplicas', 0)} of {wanted} new pods, "
                    f"{status.get('availableReplicas', 0)} available); readiness probes keep failing; "
                    "the previous version keeps serving",
                    await self._last_lines_of_new(app, name, image),
                )
            await asyncio.sleep(POLL_S)

    async def _new_pods(self, name: str, image: str) -> list[Obj]:
        pods = await self.kube.list_objects("v1", "pods", self.namespace, f"{LABEL_PROJECT}={self.project}")
        return [p for p in pods.get("items") or [] if is_rollout_pod(p, name, image)]

    async def _raise_if_stalled(self, app: AppSpec, name: str, image: str) -> None:
        for pod in await self._new_pods(name, image):
            pod_name = pod["metadata"]["name"]
            message = unschedulable_message(pod)
            if message is not None:
                # The scheduler retries: fatal only when it persists for a cause a node does not
                # clear by becoming Ready (too little memory, an untolerated taint of the user's).
                since = self._unschedulable.setdefault(pod_name, time.monotonic())
                if not transient_unschedulable(message) and time.monotonic() - since >= UNSCHEDULABLE_S:
                    raise DeployError(f"{app.name}: pod {pod_name} cannot be scheduled: {message}")
            stall = container_stall(pod, app.memory_mb)
            if stall is not None:
                lines = await self.log_tail(pod_name, stall.container, previous=True) if stall.crashed else ()
                detail = f": {stall.detail}" if stall.detail else ""
                said = f"{app.name}: pod {pod_name} {stall.why}{detail}"
                raise DeployError(said + "; the previous version keeps serving", lines)

    async def log_tail(
        self, pod: str, container: str, count: int = 20, previous: bool = False
    ) -> tuple[str, ...]:
        """A container's last lines (of its previous run, after a crash), or none if it has no log."""
        params = {"container": container, "tailLines": str(count)}
        if previous:
            params["previous"] = "true"
        response = await self.kube.request("GET", "v1", f"pods/{pod}/log", self.namespace, params=params)
        return tuple(response.text.splitlines()[-count:]) if response.status_code == 200 else ()

    async def _last_lines_of_new(self, app: AppSpec, name: str, image: str) -> tuple[str, ...]:
        for pod in await self._new_pods(name, image):
            lines = await self.log_tail(pod["metadata"]["name"], container_of(pod, app.name))
            if lines:
                return lines
        return ()

    async def restart(self, app: AppSpec, name: str, progress: Progress) -> int:
        """Deployment `name` rolled with a new template annotation (`kubectl rollout restart`);
        its replica count, once the rollout is done."""
        stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        deployment = await self.kube.get("apps/v1", f"deployments/{name}", self.namespace)
        if deployment is None:
            raise ProviderError(f"{app.name} ({name}) is not deployed in namespace {self.namespace}")
        count = int((deployment.get("spec") or {}).get("replicas", 1))
        response = await self.kube.request(
            "PATCH", "apps/v1", f"deployments/{name}", self.namespace,
            headers={"Content-Type": "application/strategic-merge-patch+json"},
            content=json.dumps(
                {"spec": {"template": {"metadata": {"annotations": {"devloop.dev/restartedAt": stamp}}}}}
            ).encode(),
        )  # fmt: skip
        if response.status_code != 200:
            raise ProviderError(f"restarting {name}: the API server answered {response.status_code}")
        image = deployment["spec"]["template"]["spec"]["containers"][0]["image"]
        await self.wait(app, name, image, progress)
        return count


def runs_as_numeric_non_root(image: str) -> bool:
    """Whether the image's user is a non-zero UID, which the kubelet can check (True if unknown)."""
    try:
        engine = dockersdk.open_engine()
    except DevloopError:
        return True
    try:
        user = engine.image_user(image)
    except DevloopError:  # not in the local engine (a remote image): leave the manifest as it is
        return True
    finally:
        engine.close()
    uid = user.split(":", 1)[0]
    return uid.isdigit() and uid != "0"


def for_root_image(obj: Obj) -> Obj:
    """A Deployment that can run a root image's entrypoint: no runAsNonRoot, and the runtime's default
    capabilities instead of none (nginx/httpd-style entrypoints chown and setgid before dropping to
    their user), as the docker provider runs it; no privilege escalation stays."""
    if obj["kind"] != "Deployment":
        return obj
    obj = json.loads(json.dumps(obj))  # a deep copy: the caller's objects stay as built
    pod = obj["spec"]["template"]["spec"]
    pod.get("securityContext", {}).pop("runAsNonRoot", None)
    for container in pod.get("containers", []):
        context = container.get("securityContext", {})
        context.pop("runAsNonRoot", None)
        context.pop("capabilities", None)
    return obj


def labelled(obj: Obj, project: str, app: str) -> Obj:
    """The labels devloop selects its own objects by: on every object, and on workloads' pods."""
    obj = json.loads(json.dumps(obj))  # a deep copy: the caller's objects stay as built
    meta = obj.setdefault("metadata", {})
    meta["labels"] = {**(meta.get("labels") or {}), LABEL_PROJECT: project, LABEL_APP: app}
    template = (obj.get("spec") or {}).get("template")
    if obj.get("kind") in ("Deployment", "StatefulSet", "DaemonSet") and isinstance(template, dict):
        pod_meta = template.setdefault("metadata", {})
        pod_labels = pod_meta.get("labels") or {}
        given = pod_labels.get(LABEL_APP)
        if given is not None and given != app:
            # Overwriting it would break the user's selector (422); devloop finds an app's pods by it.
            raise ProviderError(
                f"{obj['kind']}/{meta.get('name')}: its pods are labelled {LABEL_APP}={given}, and devloop "
                f"finds app {app}'s pods by {LABEL_APP}={app}",
                hint=f"set `{LABEL_APP}: {app}` in the pod template (and in the selector if it names it), "
                "or leave the label out: devloop adds it",
            )
        # A user's pods are the app's web instances unless they say otherwise.
        pod_meta["labels"] = {LABEL_COMPONENT: "web", **pod_labels, LABEL_PROJECT: project, LABEL_APP: app}
    return obj
