"""The kind provider: each app is a Deployment on a local Kubernetes (kind, or any --context).

The cluster comes from the kind CLI (created from a generated config, or
reused); images reach it through the cluster's local registry when it has one
(the `local-registry-hosting` ConfigMap), else `kind load docker-image`. Objects
come from `devloop.providers.kind.objects` (or the user's YAML) and go in with server-side
apply; a rollout is watched until every new pod is ready, and stalls are
reported with their reason. The router puts each ready pod of a routed app in
rotation through a port-forward of its own, healed as pods come and go.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import os
import re
import shutil
import socket
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import docker.errors
from kr8s.asyncio.portforward import PortForward

from devloop.adapters import dockerapi, proc, registry
from devloop.adapters.kindcli import KindCli
from devloop.adapters.kube import KubeClient, Obj, plural
from devloop.core.changes import SyncCopy
from devloop.core.events import InstancesChanged, InstanceStatus
from devloop.core.logbuffer import LogLine
from devloop.core.logformat import parse_rfc3339_ns
from devloop.core.processes import WEB, process_name, process_types, process_view
from devloop.core.services import ServiceSpec, new_password
from devloop.core.spec import AppSpec, ProjectSpec
from devloop.errors import DevloopError, ProviderError, ToolMissingError
from devloop.fs import write_private
from devloop.providers.base import Deployed, DeployError, Progress
from devloop.providers.docker.provider import project_id
from devloop.providers.kind import cluster_config, objects, user_objects
from devloop.providers.kind.service_objects import (
    binding_secret,
    is_backing_service,
    read_bindings,
    service_claims_selector,
    service_objects,
)
from devloop.providers.synctar import sync_archive
from devloop.router.router import Backend, Router

LABEL_PROJECT = "devloop.dev/project"
LABEL_APP = "app.kubernetes.io/name"
LABEL_COMPONENT = "app.kubernetes.io/component"
POLL_S = 0.2  # rollout status is polled: two small GETs, cheap next to a pod start
DRAIN_S = 10.0  # a pod leaving rotation gets this long to finish its requests (cf gives 10 s)
STALLED = {  # container waiting reasons that do not fix themselves
    "ImagePullBackOff": "cannot pull its image",
    "ErrImagePull": "cannot pull its image",
    "InvalidImageName": "has an invalid image name",
    "CreateContainerConfigError": "cannot be configured",
    "CreateContainerError": "cannot be created",
    "RunContainerError": "cannot start",
    "CrashLoopBackOff": "keeps crashing",
}
NODE_READY_S = 180.0  # a new kind node is Ready within a minute on a laptop
UNSCHEDULABLE_S = 15.0  # a pod Unschedulable this long, for a reason that is not a starting node's, fails
TRANSIENT_TAINTS = ("not-ready", "unreachable", "network-unavailable")
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


def namespace_for(project: ProjectSpec) -> str:
    """One namespace per project folder: two projects with an app `web` never meet."""
    cleaned = re.sub(r"[^a-z0-9-]", "-", project_id(project.file).lower()).strip("-")
    return f"devloop-{cleaned}"[:63].rstrip("-")


def kubeconfig_cache() -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "devloop" / "kube"


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


def _pod_state(pod: Obj, app: str, container: str | None = None) -> tuple[str, bool, int, int | None]:
    """(state, ready, restarts, exit code) of the app's container (or `container`) in `pod`."""
    meta, status = pod.get("metadata") or {}, pod.get("status") or {}
    name = container or container_of(pod, app)
    statuses = [c for c in status.get("containerStatuses") or [] if c.get("name") == name]
    found = statuses[0] if statuses else {}
    restarts = int(found.get("restartCount", 0))
    state = found.get("state") or {}
    last = (found.get("lastState") or {}).get("terminated") or {}
    if meta.get("deletionTimestamp"):
        return "stopping", False, restarts, None
    if "running" in state:
        ready = bool(found.get("ready"))
        return ("running" if ready else "starting"), ready, restarts, None
    if "terminated" in state:
        code = state["terminated"].get("exitCode")
        return ("exited" if code == 0 else "crashed"), False, restarts, code
    waiting = (state.get("waiting") or {}).get("reason", "")
    if waiting in STALLED or status.get("phase") == "Failed":
        return "crashed", False, restarts, last.get("exitCode")
    return "starting", False, restarts, None


class KindProvider:
    name = "kind"

    def __init__(
        self, project: ProjectSpec, *, context: str | None = None, router: Router | None = None
    ) -> None:
        self.project = project
        self.context = context or project.context
        self.namespace = namespace_for(project)
        self.project_label = objects.label_value(project_id(project.file))
        self._kube: KubeClient | None = None
        self.kubeconfig: Path | None = None  # the kind cluster's; None: the user's kubeconfig
        self._kind: KindCli | None = None
        self.registry: str | None = None
        self.router = router or Router(project.router_port)  # devloop.cli.context hands in the one it built
        self._draining: set[asyncio.Task[None]] = set()
        self.forwards: dict[str, dict[str, PortForward]] = {}  # app -> pod -> forward
        self._indexes: dict[str, dict[str, int]] = {}  # app -> pod -> instance index
        self._pods: dict[str, Obj] = {}  # pod name -> last seen object, from the watch
        self._service_passwords: dict[str, str] = {}
        self._unschedulable: dict[str, float] = {}  # pod -> when it was first seen Unschedulable

    # --- platform -------------------------------------------------------------------------------

    @property
    def kube(self) -> KubeClient:
        if self._kube is None:
            raise ProviderError("not connected to a cluster yet")
        return self._kube

    async def connect(self, progress: Progress, create: bool = True) -> KubeClient:
        """The API client for the cluster: a kubeconfig context, or the kind cluster (made if missing)."""
        if self._kube is not None:
            return self._kube
        created = False
        if self.context:
            progress(f"using kubeconfig context {self.context}")
            kube = await KubeClient.connect(None, self.context)
        else:
            kind = self._kind = KindCli.find()
            await kind.version()
            name = self.project.cluster
            if name not in await kind.clusters():
                if not create:
                    raise ProviderError(f"there is no kind cluster {name}", hint="`devloop up` creates it")
                progress(f"creating kind cluster {name} (this takes a minute the first time)")
                config = write_private(
                    kubeconfig_cache() / f"{name}-kind.yaml", self._cluster_config(progress)
                )
                await kind.create(name, config, on_line=lambda line: progress(f"kind: {line.strip()}"))
                created = True
            else:
                progress(f"reusing kind cluster {name}")
            self.kubeconfig = await self._kind_kubeconfig(kind, name)
            kube = await KubeClient.connect(self.kubeconfig, None)
        self._kube = kube
        if created:
            await self._wire_registry(progress)
        if not self.context:
            await self._wait_nodes_ready(progress)
        return kube

    async def _wait_nodes_ready(self, progress: Progress, within_s: float = NODE_READY_S) -> None:
        """Every node of the kind cluster Ready: kind's --wait only warns when it times out, and a
        reused cluster's node may be starting again (after Docker restarted)."""
        deadline = time.monotonic() + within_s
        said = False
        while True:
            listing = await self.kube.list_objects("v1", "nodes", None, "")
            waiting = [n["metadata"]["name"] for n in listing.get("items") or [] if not _node_ready(n)]
            if not waiting and listing.get("items"):
                return
            if not said:
                progress(f"waiting for node {', '.join(waiting) or '(none yet)'} to be Ready")
                said = True
            left = deadline - time.monotonic()
            if left <= 0:
                nodes = ", ".join(waiting) or "(none)"
                raise ProviderError(
                    f"the kind cluster's node {nodes} was not Ready within {within_s:.0f}s",
                    hint="`docker logs NODE` shows why; `devloop down --cluster`, then `devloop up`",
                )
            since = (listing.get("metadata") or {}).get("resourceVersion")
            with contextlib.suppress(TimeoutError, ProviderError):
                async with asyncio.timeout(min(left, 10.0)):  # a watch that ends is listed again
                    async for kind, node in self.kube.watch("v1", "nodes", None, "", since):
                        if kind in ("ADDED", "MODIFIED") and _node_ready(node):
                            break

    def _cluster_config(self, progress: Progress) -> str:
        """The kind config, its ingress ports checked free first (and never the router's): kind
        itself would fail late with "port is already allocated"."""
        try:
            http, https = cluster_config.kind_ports(self.project.router_port, _port_is_free)
        except ValueError as exc:
            raise ProviderError(
                f"cannot create kind cluster {self.project.cluster}: {exc}",
                hint="free a port there, or stop what holds it (`ss -ltnp` shows who)",
            ) from None
        preferred = (cluster_config.HTTP_HOST_PORT, cluster_config.HTTPS_HOST_PORT)
        if (http, https) != preferred:
            progress(f"ingress ports {preferred[0]}/{preferred[1]} are taken; "
                     f"the cluster maps 127.0.0.1:{http}/{https} instead")  # fmt: skip
        return cluster_config.cluster_config(http, https)

    async def _kind_kubeconfig(self, kind: KindCli, name: str) -> Path:
        text = await kind.kubeconfig(name)
        return write_private(kubeconfig_cache() / f"{name}.yaml", text)  # it holds client keys

    async def _wire_registry(self, progress: Progress) -> None:
        assert self._kind is not None
        nodes = await self._kind.nodes(self.project.cluster)
        try:
            client = dockerapi.connect()
            await asyncio.to_thread(registry.ensure_kind_registry, client, nodes, progress)
        except Exception as exc:  # no registry image, say: `kind load` still delivers
            why = exc.explanation if isinstance(exc, docker.errors.APIError) else str(exc)
            progress(f"no local registry ({why}); images go in with `kind load docker-image`")
            return
        await self.kube.apply(cluster_config.registry_hosting(cluster_config.registry_host()), None)

    async def ensure_platform(self, progress: Progress) -> str:
        kube = await self.connect(progress)
        info = await kube.wait_ready(on_kind=self._kind is not None)
        hosting = await kube.get(
            "v1",
            f"configmaps/{cluster_config.REGISTRY_HOSTING_CONFIGMAP}",
            cluster_config.REGISTRY_HOSTING_NAMESPACE,
        )
        self.registry = cluster_config.pushed_registry(hosting)
        await kube.apply(
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": self.namespace}}, None
        )
        where = f"context {self.context}" if self.context else f"kind cluster {self.project.cluster}"
        delivery = f"registry {self.registry}" if self.registry else "kind load" if self._kind else "as built"
        version = info.get("gitVersion", "?")
        return f"kubernetes {version} ({where}, namespace {self.namespace}, images via {delivery})"

    async def deliver(self, app: AppSpec, image: str, progress: Progress) -> str:
        if self.registry:
            client = await asyncio.to_thread(dockerapi.connect)
            try:
                return await registry.push(client, image, self.registry, progress)
            finally:
                client.close()
        if self._kind is not None:
            progress(f"loading {image} into kind cluster {self.project.cluster}")
            store = await asyncio.to_thread(_engine_image_store)
            if store is None:
                await self._kind.load_image(self.project.cluster, image)
                return image
            # Docker's containerd image store saves an image index with every platform's manifest
            # and only the local one's content: kind's `ctr import --all-platforms` then fails
            # (kind issue 3795). One platform's archive goes in with `load image-archive`.
            with tempfile.TemporaryDirectory(prefix="devloop-image-") as folder:
                archive = Path(folder) / "image.tar"
                await _save_image(image, store, archive)
                await self._kind.load_archive(self.project.cluster, archive)
            return image
        raise ProviderError(
            f"context {self.context} has no local registry to push {image} to",
            hint="add the `local-registry-hosting` ConfigMap to kube-public, or use a kind cluster",
        )

    # --- deploy ---------------------------------------------------------------------------------

    def objects(self, app: AppSpec, image: str) -> list[Obj]:
        if app.manifests is not None:
            return user_objects.load(app, image)
        built = objects.app_objects(
            app,
            image,
            project=self.project_label,
            namespace=self.namespace,
            secret_values=True,
            autoscale=False,
            local=True,  # the Cloud Foundry env of a pod behind devloop's router
            router_port=self.project.router_port,
        )
        # Pods read env from the ConfigMap and Secret only at start: a hash of the values in the
        # pod template makes an env change roll the pods, as a new image does.
        values = json.dumps([sorted(app.env), sorted(app.secret_env)]).encode()
        env_hash = hashlib.sha256(values).hexdigest()[:16]
        for obj in built:
            if obj["kind"] == "Deployment":
                meta = obj["spec"]["template"]["metadata"]
                meta["annotations"] = {**meta.get("annotations", {}), "devloop.dev/env": env_hash}
        return built

    # --- backing services -----------------------------------------------------------------------

    async def _ensure_service(self, service: ServiceSpec, progress: Progress) -> str:
        """The service's StatefulSet applied and ready; its password (kept in its Secret)."""
        if service.name in self._service_passwords:
            return self._service_passwords[service.name]
        secret = await self.kube.get("v1", f"secrets/{service.name}-credentials", self.namespace)
        saved = ((secret or {}).get("data") or {}).get(service.type.password_variable)
        password = base64.b64decode(saved).decode() if saved else new_password()
        progress(f"applying service {service.name} ({service.type.name}, {service.image})")
        for obj in service_objects(service, password, self.project_label, self.namespace):
            await self.kube.apply(_labelled(obj, self.project_label, service.name), self.namespace)
        deadline = time.monotonic() + service.ready_timeout_s
        while True:
            sts = await self.kube.get("apps/v1", f"statefulsets/{service.name}", self.namespace)
            if int(((sts or {}).get("status") or {}).get("readyReplicas") or 0) >= 1:
                break
            if time.monotonic() > deadline:
                lines = await self._log_tail(f"{service.name}-0", service.name)
                raise DeployError(
                    f"service {service.name} ({service.type.name}) was not ready within "
                    f"{service.ready_timeout_s}s; the apps bound to it are held back",
                    lines,
                )
            await asyncio.sleep(POLL_S)  # the StatefulSet's status, polled as rollouts are
        progress(f"service {service.name} is ready")
        self._service_passwords[service.name] = password
        return password

    async def _bind(self, app: AppSpec, objects: list[Obj], progress: Progress) -> list[Obj]:
        """The app's services ready, its binding Secret applied, its containers reading it."""
        if not app.services:
            return objects
        bound = []
        for name in app.services:
            try:
                bound.append(self.project.service(name))
            except KeyError:
                raise DeployError(f"{app.name} binds service {name!r}, which is not defined") from None
        passwords = {s.name: await self._ensure_service(s, progress) for s in bound}
        secret = binding_secret(app.name, bound, passwords, self.project_label, self.namespace)
        # A hash of the bindings in the pod template: new credentials roll the pods.
        digest = hashlib.sha256(json.dumps(secret["stringData"], sort_keys=True).encode()).hexdigest()[:16]
        for obj in read_bindings(objects, app.name):
            if obj["kind"] == "Deployment":
                meta = obj["spec"]["template"].setdefault("metadata", {})
                meta["annotations"] = {**meta.get("annotations", {}), "devloop.dev/bindings": digest}
        return [secret, *objects]

    async def deploy(self, app: AppSpec, image: str, progress: Progress) -> Deployed:
        objects = await self._bind(app, self.objects(app, image), progress)
        if app.manifests is not None:
            for warning in user_objects.privilege_warnings(objects):
                progress(f"warning: {warning}")  # applied as written: the user's YAML is the truth
        if app.manifests is None and not await asyncio.to_thread(_runs_as_numeric_non_root, image):
            # The kubelet refuses runAsNonRoot for an image whose user is root or a name. The dev
            # loop runs what the user built (the build already warned); `devloop export` keeps it.
            progress(
                f"{image} runs as root or a named user: its pods run without runAsNonRoot, "
                "with the container runtime's default capabilities (as on the docker provider)"
            )
            objects = [_for_root_image(o) for o in objects]
        progress(f"applying {len(objects)} object(s) to namespace {self.namespace}")
        for obj in objects:
            await self.kube.apply(_labelled(obj, self.project_label, app.name), self.namespace)
        await self._prune(app, {(o["kind"], o["metadata"]["name"]) for o in objects})
        for obj in objects:
            if obj["kind"] == "Deployment":
                await self._wait_rollout(self._view(app, obj), obj["metadata"]["name"], image, progress)
        notice = await self.router.ensure(app)
        await self._refresh_forwards(app)
        return Deployed(self.router.url(app), notice)

    @staticmethod
    def _view(app: AppSpec, deployment: Obj) -> AppSpec:
        """The app as the Deployment's process runs it (its health check, its timeout)."""
        process = process_of(deployment)  # the pod template's label is on the Deployment too
        return process_view(app, process) if process in process_types(app) else app

    async def _prune(
        self, app: AppSpec | None, keep: set[tuple[str, str]], keep_credentials: bool = False
    ) -> None:
        """Delete objects devloop made for `app` (all apps: None) that are not in `keep`; with
        `keep_credentials`, the services' credentials Secrets stay (their data, which holds the
        password, outlives the StatefulSets)."""
        for version, kind in PRUNED_KINDS:
            listing = await self.kube.list_objects(
                version, plural(kind)[0], self.namespace, self._selector(app)
            )
            for item in listing.get("items") or []:
                name = item["metadata"]["name"]
                if keep_credentials and kind == "Secret" and is_backing_service(item):
                    continue
                if (kind, name) not in keep:
                    await self.kube.delete(version, f"{plural(kind)[0]}/{name}", self.namespace)

    async def _wait_rollout(self, app: AppSpec, name: str, image: str, progress: Progress) -> None:
        """Until the new pods are all ready and the old ones gone; a stall raises with its reason."""
        budget = app.health.timeout_s + 60  # pulling and scheduling come before the app's own start
        deadline = time.monotonic() + budget
        reported = ""
        while True:
            deployment = await self.kube.get("apps/v1", f"deployments/{name}", self.namespace)
            if deployment is None:
                raise DeployError(f"{app.name}: Deployment {name} disappeared during its rollout")
            spec, status = deployment.get("spec") or {}, deployment.get("status") or {}
            wanted = int(spec.get("replicas", 1))
            observed = int(status.get("observedGeneration", 0)) >= int(
                deployment["metadata"].get("generation", 1)
            )
            done = observed and all(
                int(status.get(field, 0)) == wanted
                for field in ("updatedReplicas", "availableReplicas", "replicas")
            )
            if done:
                return
            # Until the controller has seen this generation, its conditions are the previous
            # rollout's (a past ProgressDeadlineExceeded stays there): read them only after, as
            # `kubectl rollout status` does.
            for condition in status.get("conditions") or [] if observed else []:
                if (
                    condition.get("type") == "Progressing"
                    and condition.get("reason") == "ProgressDeadlineExceeded"
                ):
                    raise DeployError(f"{app.name}: {condition.get('message', 'the rollout stalled')}")
            await self._raise_if_stalled(app, name, image)
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
        pods = await self.kube.list_objects(
            "v1", "pods", self.namespace, f"{LABEL_PROJECT}={self.project_label}"
        )
        return [
            p
            for p in pods.get("items") or []
            if app_of(p) is not None
            and any(c.get("image") == image for c in p["spec"].get("containers", []))
            # `NAME-HASH-RANDOM`: not the pods of `NAME-worker`, which also start with `NAME-`
            and re.fullmatch(rf"{re.escape(name)}-[a-z0-9]+-[a-z0-9]+", p["metadata"]["name"])
        ]

    async def _raise_if_stalled(self, app: AppSpec, name: str, image: str) -> None:
        for pod in await self._new_pods(name, image):
            pod_name = pod["metadata"]["name"]
            for condition in (pod.get("status") or {}).get("conditions") or []:
                if condition.get("type") == "PodScheduled" and condition.get("reason") == "Unschedulable":
                    # The scheduler retries: fatal only when it persists for a cause a node does not
                    # clear by becoming Ready (too little memory, an untolerated taint of the user's).
                    message = str(condition.get("message", ""))
                    since = self._unschedulable.setdefault(pod_name, time.monotonic())
                    if not _transient_unschedulable(message) and time.monotonic() - since >= UNSCHEDULABLE_S:
                        raise DeployError(f"{app.name}: pod {pod_name} cannot be scheduled: {message}")
            for container in (pod.get("status") or {}).get("containerStatuses") or []:
                waiting = (container.get("state") or {}).get("waiting") or {}
                reason = waiting.get("reason", "")
                terminated = (container.get("lastState") or {}).get("terminated") or {}
                crashed = terminated and int(container.get("restartCount", 0)) > 0
                if reason in STALLED or crashed:
                    if terminated.get("reason") == "OOMKilled":
                        why = f"was killed for using more than {app.memory_mb}M of memory"
                    elif crashed:
                        why = f"exited with code {terminated.get('exitCode')} before becoming ready"
                    else:
                        why = STALLED[reason]
                    detail = waiting.get("message") if not crashed else None
                    name_of = container["name"]
                    lines = await self._log_tail(pod_name, name_of, previous=True) if crashed else ()
                    message = f"{app.name}: pod {pod_name} {why}" + (f": {detail}" if detail else "")
                    raise DeployError(message + "; the previous version keeps serving", lines)

    async def _log_tail(
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
            lines = await self._log_tail(pod["metadata"]["name"], container_of(pod, app.name))
            if lines:
                return lines
        return ()

    def _selector(self, app: AppSpec | None) -> str:
        selector = f"{LABEL_PROJECT}={self.project_label}"
        return f"{selector},{LABEL_APP}={app.name}" if app is not None else selector

    # --- routing --------------------------------------------------------------------------------

    async def _refresh_forwards(self, app: AppSpec, pods: list[Obj] | None = None) -> None:
        """One port-forward per ready web pod of `app`, each in the app's rotation."""
        if app.name not in self.router.apps:
            return
        if pods is None:
            listing = await self.kube.list_objects("v1", "pods", self.namespace, self._selector(app))
            pods = listing.get("items") or []
        ready = {
            p["metadata"]["name"]: p for p in pods if process_of(p) == WEB and _pod_state(p, app.name)[1]
        }
        forwards = self.forwards.setdefault(app.name, {})
        leaving = {name: forwards.pop(name) for name in [n for n in forwards if n not in ready]}
        for name, pod in ready.items():
            if name not in forwards:
                forward = await self.kube.port_forward(pod, app.port)
                await forward.start()
                forwards[name] = forward
        live = {p["metadata"]["name"] for p in self._cached_pods(app.name)} | set(ready)
        retired = self.router.set_backends(
            app.name,
            [("127.0.0.1", f.local_port, str(self._index(app.name, n, live))) for n, f in forwards.items()],
        )
        if leaving:
            # Pods leaving rotation finish their requests before their port-forwards close.
            task = asyncio.create_task(self._drain_and_stop(retired, list(leaving.values())))
            self._draining.add(task)
            task.add_done_callback(self._draining.discard)

    async def _drain_and_stop(self, retired: list[Backend], forwards: list[PortForward]) -> None:
        await self.router.drain(retired, DRAIN_S)
        for forward in forwards:
            with contextlib.suppress(Exception):
                await forward.stop()

    # --- instances and logs ---------------------------------------------------------------------

    def _index(self, app: str, pod: str, live: set[str]) -> int:
        indexes = self._indexes.setdefault(app, {})
        for gone in [p for p in indexes if p not in live]:
            del indexes[gone]
        if pod not in indexes:
            taken = set(indexes.values())
            indexes[pod] = next(i for i in range(len(taken) + 1) if i not in taken)
        return indexes[pod]

    def _cached_pods(self, app: str) -> list[Obj]:
        """The app's pods as the last list or watch event left them."""
        return [p for p in self._pods.values() if app_of(p) == app]

    def _statuses(self, app: AppSpec) -> InstancesChanged:
        """One status per pod's process container, and one per sidecar beside it, indexed per
        process type (web/0, worker/0, ...)."""
        pods = sorted(
            self._cached_pods(app.name),
            key=lambda p: (p["metadata"].get("creationTimestamp", ""), p["metadata"]["name"]),
        )
        statuses = []
        for process in sorted({process_of(p) for p in pods}):
            mine = [p for p in pods if process_of(p) == process]
            live = {p["metadata"]["name"] for p in mine}
            for pod in mine:
                name = pod["metadata"]["name"]
                index = self._index(app.name if process == WEB else f"{app.name}/{process}", name, live)
                ip = (pod.get("status") or {}).get("podIP")
                for sidecar in ["", *sidecars_in(pod, app.name)]:
                    state, ready, restarts, code = _pod_state(pod, app.name, sidecar or None)
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

    def snapshot(self, app: AppSpec) -> InstancesChanged:
        return self._statuses(app)

    async def instances(self, app: AppSpec) -> InstancesChanged:
        try:
            await self.connect(lambda _text: None, create=False)
        except ProviderError:
            return InstancesChanged(app.name, ())  # no cluster: nothing runs
        listing = await self.kube.list_objects("v1", "pods", self.namespace, self._selector(app))
        for name in [n for n, p in self._pods.items() if app_of(p) == app.name]:
            del self._pods[name]  # the listing is the whole truth for this app
        for pod in listing.get("items") or []:
            self._pods[pod["metadata"]["name"]] = pod
        return self._statuses(app)

    async def watch_instances(self, apps: list[AppSpec]) -> AsyncIterator[InstancesChanged]:
        by_name = {a.name: a for a in apps}
        listing = await self.kube.list_objects("v1", "pods", self.namespace, self._selector(None))
        self._pods = {p["metadata"]["name"]: p for p in listing.get("items") or []}
        for app in apps:
            yield self._statuses(app)
        since = (listing.get("metadata") or {}).get("resourceVersion")
        async for kind, pod in self.kube.watch("v1", "pods", self.namespace, self._selector(None), since):
            if kind == "BOOKMARK":
                continue
            if kind == "ERROR":
                return  # e.g. 410 Gone: the caller lists again
            name = pod["metadata"]["name"]
            if kind == "DELETED":
                self._pods.pop(name, None)
            else:
                self._pods[name] = pod
            changed = by_name.get(app_of(pod) or "")
            if changed is not None:
                with contextlib.suppress(ProviderError):
                    await self._refresh_forwards(changed, self._cached_pods(changed.name))
                yield self._statuses(changed)

    async def tail(
        self, instance: InstanceStatus, since_ns: int | None, *, follow: bool = True, last: int | None = None
    ) -> AsyncIterator[LogLine]:
        since = None
        process = instance.qualifier
        if since_ns:
            since = datetime.fromtimestamp(since_ns // 1_000_000_000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        with contextlib.suppress(ProviderError, OSError):
            async for raw in self.kube.logs(
                self.namespace,
                instance.id,
                instance.sidecar or container_of(self._pods.get(instance.id) or {}, instance.app),
                follow=follow,
                since_time=since,
                tail_lines=last,
            ):
                stamp, _, message = raw.partition(" ")
                try:
                    ts = parse_rfc3339_ns(stamp)
                except ValueError:
                    yield LogLine(instance.app, "APP", raw, instance.index, instance.id, process=process)
                    continue
                if since_ns is None or ts > since_ns:  # sinceTime has whole seconds only
                    yield LogLine(instance.app, "APP", message, instance.index, instance.id, ts, process)

    # --- sync and restart -----------------------------------------------------------------------

    async def _running_pods(self, app: AppSpec) -> list[Obj]:
        listing = await self.kube.list_objects("v1", "pods", self.namespace, self._selector(app))
        running = [
            p
            for p in listing.get("items") or []
            if process_of(p) in process_types(app) and _pod_state(p, app.name)[0] == "running"
        ]
        self._pods.update((p["metadata"]["name"], p) for p in running)
        return running

    async def sync(self, app: AppSpec, copies: tuple[SyncCopy, ...]) -> int:
        pods = await self._running_pods(app)
        present = [c for c in copies if (app.source / c.rel).is_file()]
        gone = [c.dest for c in copies if not (app.source / c.rel).exists()]
        archive = sync_archive(app, present) if present else None
        for pod in pods:
            name = pod["metadata"]["name"]
            if app.sync_restart is None or process_of(pod) != WEB:
                await self._sync_into(app, name, archive, gone)  # a worker restarts in place
                continue
            # One pod at a time, out of rotation: the next restarts only once this one serves.
            forward = self.forwards.get(app.name, {}).get(name)
            address = ("127.0.0.1", forward.local_port) if forward is not None else None
            async with self.router.paused(app.name, address, DRAIN_S):
                await self._sync_into(app, name, archive, gone)
                await self._wait_serving(app, name)
        return len(pods)

    async def _sync_into(self, app: AppSpec, name: str, archive: bytes | None, gone: list[str]) -> None:
        if archive is not None:
            # -m: the files' times are now, so reloaders that look at mtimes notice.
            # --overwrite: write into existing files, so a folder the app user cannot
            # write (a root-owned WORKDIR) still takes the app user's own files.
            await self._exec_checked(
                app, name, ["tar", "-x", "-m", "--overwrite", "-f", "-", "-C", "/"], archive
            )
        if gone:
            await self._exec_checked(app, name, ["rm", "-f", "--", *gone])
        restart = app.sync_restart
        if restart is not None and restart.signal:
            signal_name = restart.signal.upper().removeprefix("SIG")
            # `kill` is a shell builtin; PID 1 is the app, as the container's command.
            await self._exec_checked(app, name, ["/bin/sh", "-c", f"kill -{signal_name} 1"])
        elif restart is not None and restart.command:
            await self._exec_checked(app, name, ["/bin/sh", "-c", restart.command])

    async def _exec_checked(
        self, app: AppSpec, pod: str, command: list[str], stdin: bytes | None = None
    ) -> None:
        container = container_of(self._pods.get(pod) or {}, app.name)
        result = await self.kube.exec(self.namespace, pod, container, command, stdin)
        if result.code != 0:
            detail = (result.stderr or result.stdout).decode(errors="replace").strip()[:300]
            what = f"{app.name}: `{' '.join(command[:3])}` in pod {pod}"
            if result.message and not detail:  # it never ran: the API server's Status says why
                raise ProviderError(f"{what} could not run: {result.message[:300]}")
            raise ProviderError(f"{what} exited {result.code}: {detail}")

    async def _wait_serving(self, app: AppSpec, pod: str) -> None:
        """The pod is ready again (its readiness probe passes) after a sync's restart step."""
        deadline = time.monotonic() + app.health.timeout_s
        await asyncio.sleep(POLL_S)  # let the restart take effect before trusting `ready`
        while True:
            current = await self.kube.get("v1", f"pods/{pod}", self.namespace)
            if current is not None and _pod_state(current, app.name)[1]:
                return
            if time.monotonic() > deadline:
                raise DeployError(f"{app.name}: pod {pod} did not serve again within {app.health.timeout_s}s")
            await asyncio.sleep(POLL_S)

    async def restart(self, app: AppSpec, progress: Progress) -> int:
        """A rolling restart of each process type's Deployment, as `kubectl rollout restart` does:
        a new template annotation."""
        count = 0
        for process in process_types(app):
            name = process_name(app.name, process)
            count += await self._restart_deployment(process_view(app, process), name, progress)
        await self._refresh_forwards(app)
        return count

    async def _restart_deployment(self, app: AppSpec, name: str, progress: Progress) -> int:
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
        await self._wait_rollout(app, name, image, progress)
        return count

    def shell_argv(self, instance: InstanceStatus, command: str | None = None, tty: bool = True) -> list[str]:
        """A shell in the pod over the API server's exec WebSocket (providers.kind.shell): no kubectl."""
        shell = ["/bin/sh", "-c", command] if command else ["/bin/sh"]
        container = instance.sidecar or container_of(self._pods.get(instance.id) or {}, instance.app)
        return self._exec_argv(instance.id, container, shell)

    def _exec_argv(self, pod: str, container: str, command: list[str]) -> list[str]:
        """`command` in a pod's container over the API server's exec WebSocket; a tty when both
        ends are terminals (devloop.providers.kind.shell decides)."""
        return [
            sys.executable, "-m", "devloop.providers.kind.shell",
            "--kubeconfig", str(self.kubeconfig or ""), "--context", self.context or "",
            "--namespace", self.namespace, "--pod", pod, "--container", container, "--", *command,
        ]  # fmt: skip

    # --- backing services: the cf service commands -----------------------------------------------

    async def service_states(self) -> dict[str, str]:
        """Service name -> `running` (its pod is ready) or `starting`; none without a cluster."""
        try:
            await self.connect(lambda _text: None, create=False)
        except (ProviderError, ToolMissingError):
            return {}
        listing = await self.kube.list_objects(
            "apps/v1", "statefulsets", self.namespace, self._selector(None)
        )
        return {
            sts["metadata"]["name"]: "running"
            if int((sts.get("status") or {}).get("readyReplicas") or 0) >= 1
            else "starting"
            for sts in listing.get("items") or []
        }

    async def service_password(self, service: ServiceSpec) -> str | None:
        """The password kept in the service's credentials Secret (made by the first deploy)."""
        if not await self.service_states():
            return None
        secret = await self.kube.get("v1", f"secrets/{service.name}-credentials", self.namespace)
        saved = ((secret or {}).get("data") or {}).get(service.type.password_variable)
        return base64.b64decode(saved).decode() if saved else None

    def service_shell_argv(self, service: ServiceSpec, args: tuple[str, ...], tty: bool) -> list[str]:
        """The service's own client in its pod, over the API server's exec WebSocket."""
        return self._exec_argv(f"{service.name}-0", service.name, [*service.type.shell_command, *args])

    # --- teardown -------------------------------------------------------------------------------

    async def remove(self, apps: list[AppSpec] | None, purge: bool = False) -> int:
        with contextlib.suppress(ToolMissingError, ProviderError):
            await self.connect(lambda _text: None, create=False)
        if self._kube is None:
            return 0  # no cluster: nothing to remove
        pods = await self.kube.list_objects("v1", "pods", self.namespace, self._selector(None))
        names = {a.name for a in apps} if apps is not None else None
        counted = [p for p in pods.get("items") or [] if names is None or app_of(p) in names]
        for target in list(apps) if apps is not None else [None]:
            await self._prune(target, keep=set(), keep_credentials=not purge)
        if purge and apps is None:  # the services' data: their volume claims outlive the StatefulSets
            # The StatefulSet controller labels a claim with its template's labels and the selector's,
            # not with the StatefulSet's own: select by the template's.
            claims = await self.kube.list_objects(
                "v1", "persistentvolumeclaims", self.namespace, service_claims_selector(self.project_label)
            )
            for claim in claims.get("items") or []:
                await self.kube.delete(
                    "v1", f"persistentvolumeclaims/{claim['metadata']['name']}", self.namespace
                )
        return len(counted)

    async def delete_cluster(self) -> None:
        kind = self._kind or KindCli.find()
        await kind.delete(self.project.cluster)

    async def close(self) -> None:
        for forwards in self.forwards.values():
            for forward in forwards.values():
                with contextlib.suppress(Exception):
                    await forward.stop()
        self.forwards.clear()
        for task in list(self._draining):
            task.cancel()
        await asyncio.gather(*self._draining, return_exceptions=True)
        await self.router.close()
        if self._kube is not None:
            await self._kube.close()


def uses_containerd_store(info: Obj) -> bool:
    """Whether `docker info` describes the containerd image store (its snapshotter as driver type)."""
    return any(
        isinstance(pair, list | tuple) and len(pair) == 2 and pair[0] == "driver-type"
        and str(pair[1]).startswith("io.containerd.snapshotter")
        for pair in info.get("DriverStatus") or []
    )  # fmt: skip


def node_platform(info: Obj) -> str:
    """The engine's (and so kind's node's) platform, as `docker save --platform` names it."""
    arch = str(info.get("Architecture") or "x86_64")
    return "linux/" + {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm/v7"}.get(arch, arch)


def _engine_image_store() -> str | None:
    """The node platform when the engine uses the containerd image store, else None."""
    try:
        client = dockerapi.connect()
    except DevloopError:
        return None
    try:
        info: Obj = client.info()
    except Exception:
        return None
    finally:
        client.close()
    return node_platform(info) if uses_containerd_store(info) else None


async def _save_image(image: str, platform: str, archive: Path) -> None:
    """`docker image save` of one platform (engines before 28 know no --platform: all of it then)."""
    docker_cli = shutil.which("docker") or "docker"
    result = await proc.run([docker_cli, "image", "save", "--platform", platform, "-o", str(archive), image])
    if not result.ok and any(
        "unknown flag" in line or "requires API version" in line for line in result.output
    ):
        result = await proc.run([docker_cli, "image", "save", "-o", str(archive), image])
    if not result.ok:
        raise ProviderError(f"`docker image save {image}` failed: " + " ".join(result.output[-5:]))


def _node_ready(node: Obj) -> bool:
    conditions = (node.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def _transient_unschedulable(message: str) -> bool:
    """Whether an Unschedulable reason is one a starting node clears by itself (its taints)."""
    return any(f"node.kubernetes.io/{taint}" in message for taint in TRANSIENT_TAINTS)


def _port_is_free(port: int) -> bool:
    """Whether 127.0.0.1:`port` can be bound now (as kind's node container will bind it)."""
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _runs_as_numeric_non_root(image: str) -> bool:
    """Whether the image's user is a non-zero UID, which the kubelet can check (True if unknown)."""
    try:
        client = dockerapi.connect()
    except DevloopError:
        return True
    try:
        user = (client.images.get(image).attrs.get("Config") or {}).get("User") or ""
    except Exception:  # not in the local engine (a remote image): leave the manifest as it is
        return True
    finally:
        client.close()
    uid = user.split(":", 1)[0]
    return uid.isdigit() and uid != "0"


def _for_root_image(obj: Obj) -> Obj:
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


def _labelled(obj: Obj, project: str, app: str) -> Obj:
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


__all__ = ["KindProvider", "namespace_for"]
