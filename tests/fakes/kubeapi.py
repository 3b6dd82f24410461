"""A fake Kubernetes API server for tests, as strict as a real one where devloop can trip: kmock, extended.

kmock (PyPI) serves the API over real HTTPS on loopback and stores objects. On
top of it, following the API reference and the API server's own validation:

- HTTPS with a client certificate, as kind's kubeconfig has it (tests/fakes/kubetls.py); no
  certificate is a 401;
- discovery (`/api/v1`, `/apis/GROUP/VERSION`), `GET /version`; an unserved resource or the wrong
  scope (a namespaced kind outside a namespace) is a 404, a write into a missing namespace too;
- server-side apply (tests/fakes/kubestrict.py): the body validated against the served version's
  OpenAPI schema (unknown field 400, wrong type 422), DNS-1123/1035 names, label syntax, selector
  vs template labels, immutable Deployment selector and StatefulSet spec, real `Status` bodies;
  field ownership per manager (fields a manager stops applying go, 409 without `force`, `stringData`
  keys kept as upstream keeps them); strategic-merge patches of pod-template annotations;
- list and watch with `labelSelector` and opaque `resourceVersion`s; watches end after
  `timeoutSeconds`, send BOOKMARKs, and answer a compacted version with ERROR 410;
- controllers on their own tick (a GET right after an apply sees the old status): Deployments
  (pods `<name>-<hash>-<suffix>` in apimachinery's safe alphabet, maxSurge 1 / maxUnavailable 0,
  Progressing with `progressDeadlineSeconds`), StatefulSets (one claim per pod, backed by a Docker
  volume that outlives them, released once no pod uses it), Jobs and their TTL (tests/fakes/kubejobs.py:
  a generated selector, one pod, terminal status, Orphan deletion by default), a scheduler that leaves pods
  Unschedulable while the node is NotReady (a new kind cluster's is, for a while);
- a kubelet that runs every pod as a real container on the local Docker engine, each pod synced
  on its own task as the kubelet's pod workers do (a busy pod's slow probe holds up no other): startup,
  readiness and liveness probes on the pod's own address (a failed startup or liveness probe kills
  the container, exit 137), `runAsNonRoot`, capabilities, runAsUser/Group, no-new-privileges,
  read-only root, service-link variables and `KUBERNETES_SERVICE_*`, claims as volumes,
  `localhost:PORT/...` images pulled from a real registry, an explicit `imagePullPolicy` honoured
  (`Always` pulls every start and fails for an image no registry here serves, `Never` never pulls:
  ErrImageNeverPull), crash restarts (CrashLoopBackOff, the back-off doubling), and pods whose
  `restartPolicy` says they are done (Succeeded/Failed, the exit code in `terminated`, the container
  kept for its logs until the pod goes);
- pod logs per container instance (`follow`, `timestamps`, `sinceTime`, `tailLines`, `previous`),
  exec (`v5.channel.k8s.io`, stdin with close; a command that cannot start is an InternalError
  Status) and port-forward over WebSockets, as the API server relays them from the kubelet.

Not modelled (real clusters differ here): probe timeouts beyond the connect and first line,
ReplicaFailure while a new namespace's `default` ServiceAccount is missing, admission (quotas, LimitRanges, Pod Security),
cluster DNS and Service routing (port-forward dials the published port), field ownership below
the leaves devloop applies (no per-list-type SMD schema), rate limiting (429 only by injection),
and part of the kubelet's env resolution: downward-API `valueFrom.fieldRef` and `$(VAR)` references
are schema-checked but not filled in (envFrom is), so a pod's CF_INSTANCE_IP is absent here.
Times are scaled down (probe period 0.1 s, crash backoff 0.3 s) so tests are fast.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import copy
import dataclasses
import hashlib
import itertools
import json
import re
import secrets
import socket
import struct
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp.test_utils
import aiohttp.web
import docker
import docker.errors
import kmock
import yaml

from tests.fakes import kubejobs, kubestrict, kubetls

Obj = dict[str, Any]
KUBELET_LABEL = "devloop-fake-kubelet.cluster"
POD_LABEL = "devloop-fake-kubelet.pod"
PROBE_PERIOD_S = 0.1  # until ready; the control loop's tick
READY_PROBE_PERIOD_S = 1.0  # the manifests' 5 s readiness period, scaled down
CRASH_BACKOFF_S = 0.3
BOOKMARK_S = 1.0  # a quiet watch gets a BOOKMARK this often (the API server: about a minute)
SAFE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"  # k8s.io/apimachinery/pkg/util/rand: no vowels, no 0/1/3
SERVER_VERSION = {"major": "1", "minor": "31", "gitVersion": "v1.31.4", "platform": "linux/amd64"}
_PATH = re.compile(
    r"^/(?:api/(?P<core>v1)|apis/(?P<group>[^/]+)/(?P<version>[^/]+))"
    r"(?:/namespaces/(?P<ns>[^/]+))?/(?P<plural>[^/]+)(?:/(?P<name>[^/]+))?(?:/(?P<sub>[^/]+))?$"
)
KINDS = {
    "Namespace": "namespaces", "ConfigMap": "configmaps", "Secret": "secrets", "Service": "services",
    "Pod": "pods", "Deployment": "deployments", "Ingress": "ingresses",
    "PodDisruptionBudget": "poddisruptionbudgets", "HorizontalPodAutoscaler": "horizontalpodautoscalers",
    "StatefulSet": "statefulsets", "PersistentVolumeClaim": "persistentvolumeclaims",
    "ServiceAccount": "serviceaccounts", "Node": "nodes", "PersistentVolume": "persistentvolumes",
    "DaemonSet": "daemonsets", "ReplicaSet": "replicasets", "Job": "jobs", "CronJob": "cronjobs",
    "NetworkPolicy": "networkpolicies", "Role": "roles", "RoleBinding": "rolebindings",
    "ClusterRole": "clusterroles", "ClusterRoleBinding": "clusterrolebindings", "PriorityClass": "priorityclasses",
}  # fmt: skip
# The group versions served, as discovery lists them: (group/version) -> plurals.
SERVED_VERSIONS = {
    "v1": {"namespaces", "configmaps", "secrets", "services", "pods", "persistentvolumeclaims",
           "serviceaccounts", "nodes", "persistentvolumes"},
    "apps/v1": {"deployments", "statefulsets", "daemonsets", "replicasets"},
    "networking.k8s.io/v1": {"ingresses", "networkpolicies"},
    "policy/v1": {"poddisruptionbudgets"},
    "autoscaling/v1": {"horizontalpodautoscalers"},
    "autoscaling/v2": {"horizontalpodautoscalers"},
    "batch/v1": {"jobs", "cronjobs"},
    "rbac.authorization.k8s.io/v1": {"roles", "rolebindings", "clusterroles", "clusterrolebindings"},
    "scheduling.k8s.io/v1": {"priorityclasses"},
}  # fmt: skip
KIND_OF = {v: k for k, v in KINDS.items()}


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def status(code: int, reason: str, message: str) -> aiohttp.web.Response:
    body = {"apiVersion": "v1", "kind": "Status", "metadata": {}, "status": "Failure",
            "message": message, "reason": reason, "code": code}  # fmt: skip
    return aiohttp.web.json_response(body, status=code)


def selector_matches(selector: str, labels: dict[str, str]) -> bool:
    for term in filter(None, (t.strip() for t in selector.split(","))):
        if "!=" in term:
            key, value = term.split("!=", 1)
            if labels.get(key) == value:
                return False
        elif "=" in term:
            key, value = term.replace("==", "=").split("=", 1)
            if labels.get(key) != value:
                return False
        elif labels.get(term) is None:
            return False
    return True


class FakeKubernetes(kmock.KubernetesEmulator):
    """Call `start_controllers()` inside the server's loop; `stop()` removes every container it ran."""

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        self.cluster_id = secrets.token_hex(4)
        self.docker = docker.from_env()
        self.rv = itertools.count(1)
        self.watchers: list[tuple[str, str | None, str, asyncio.Queue[Obj]]] = []
        self.containers: dict[str, str] = {}  # pod key -> docker container id (the pod's first container)
        self.sidecars: dict[str, dict[str, str]] = {}  # pod key -> its other containers' name -> id
        self.probed: dict[str, float] = {}  # pod key -> when its readiness was last probed
        self.restarting: set[str] = set()
        self.log_streams: dict[
            int, aiohttp.web.BaseRequest
        ] = {}  # open `follow` log requests  # pod keys whose crashed container restarts after a back-off
        self.tasks: set[asyncio.Task[None]] = set()
        self.pod_workers: dict[str, asyncio.Task[None]] = {}  # pod key -> its sync under way
        self.ip = itertools.count(10)
        self.rv_now = 0
        self.compacted = 0  # watches from a resourceVersion below this get ERROR 410 (tests raise it)
        self.requests_seen: list[tuple[str, str, str]] = []  # (method, path, content type)
        self.faults: list[InjectedFault] = []
        self.owners: dict[tuple[str, str | None, str], kubestrict.Ownership] = {}  # SSA field ownership
        self.appliers: dict[tuple[str, str | None, str], set[str]] = {}
        self.progress: dict[str, tuple[tuple[int, ...], float]] = {}  # Deployment -> (progress, when)
        self.node_ready_at: dict[str, float] = {}  # NotReady nodes -> when they turn Ready
        self.started_ok: set[str] = set()  # pods whose startup probe passed
        self.run_starts: dict[str, list[float]] = {}  # container -> where each of its runs begins in its log
        self.run_seen: dict[str, list[float]] = {}  # container -> each run's StartedAt
        # container -> its NetworkSettings as the kubelet's last sync saw them: probes and port-forwards
        # dial the pod without asking Docker each time (the kubelet has the pod's network namespace)
        self.network: dict[str, dict[str, Any]] = {}
        self.probe_started: dict[str, float] = {}  # pod -> when its container was first seen running
        self.probe_times: dict[tuple[str, str], float] = {}  # (pod, startup|liveness) -> last probed
        self.probe_failures: dict[tuple[str, str], int] = {}  # (pod, startup|liveness) -> failures in a row
        self.jobs_finished: dict[str, float] = {}  # finished Job -> when the TTL controller saw it so
        for namespace in ("default", "kube-system", "kube-public", "kube-node-lease"):
            self.store("v1", "namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                            "metadata": {"name": namespace, "uid": secrets.token_hex(16),
                                                         "creationTimestamp": now()},
                                            "status": {"phase": "Active"}}, "ADDED")  # fmt: skip
        self.store("v1", "services", {"apiVersion": "v1", "kind": "Service",
                                      "metadata": {"name": "kubernetes", "namespace": "default",
                                                   "uid": secrets.token_hex(16), "creationTimestamp": now()},
                                      "spec": {"clusterIP": "10.96.0.1", "ports": [{"name": "https", "port": 443,
                                                                                   "protocol": "TCP"}]}}, "ADDED")  # fmt: skip

    def inject(self, method: str, path: str, kind: str, status: int = 500, times: int = 1) -> InjectedFault:
        """The next `times` requests matching `method` and the `path` regex fail: with `status`
        ("status"), by never answering ("hang"), or, for a watch, by a stream cut mid-event ("cut")."""
        fault = InjectedFault(method, re.compile(path), kind, status, times)
        self.faults.append(fault)
        return fault

    def _take_fault(self, method: str, path: str) -> InjectedFault | None:
        for fault in self.faults:
            if fault.left > 0 and fault.method == method and fault.path.search(path):
                fault.left -= 1
                fault.hits += 1
                return fault
        return None

    # --- storage ------------------------------------------------------------------------------

    def next_rv(self) -> str:
        """The next resourceVersion: numbers inside the server, opaque strings to clients."""
        self.rv_now = next(self.rv)
        return str(self.rv_now)

    @staticmethod
    def resource_of(api_version: str, plural: str) -> kmock.resource:
        group, _, version = api_version.rpartition("/")
        return kmock.resource(group, version, plural)

    def fetch(self, api_version: str, plural: str, ns: str | None, name: str) -> Obj | None:
        key = (self.resource_of(api_version, plural), ns, name)
        if key in self.objects and not self.objects[key].deleted:
            return copy.deepcopy(self.objects[key].raw)
        return None

    def items(self, plural: str, ns: str | None) -> Iterator[tuple[str, Obj]]:
        for (res, namespace, _name), obj in list(self.objects.items()):
            if res.plural == plural and (ns is None or namespace == ns) and not obj.deleted:
                yield f"{res.group}/{res.version}".lstrip("/"), copy.deepcopy(obj.raw)

    def store(self, api_version: str, plural: str, obj: Obj, event: str) -> Obj:
        meta = obj["metadata"]
        meta["resourceVersion"] = self.next_rv()
        key = (self.resource_of(api_version, plural), meta.get("namespace"), meta["name"])
        if key in self.objects:
            self.objects[key].create(copy.deepcopy(obj))
        else:
            self.objects[key] = copy.deepcopy(obj)
        self.notify(plural, event, obj)
        return obj

    def drop(self, api_version: str, plural: str, obj: Obj) -> None:
        meta = obj["metadata"]
        key = (self.resource_of(api_version, plural), meta.get("namespace"), meta["name"])
        if key in self.objects and not self.objects[key].deleted:
            self.objects[key].delete()
            self.owners.pop((plural, meta.get("namespace"), meta["name"]), None)
            self.appliers.pop((plural, meta.get("namespace"), meta["name"]), None)
            meta["resourceVersion"] = self.next_rv()
            self.notify(plural, "DELETED", obj)

    def notify(self, plural: str, event: str, obj: Obj) -> None:
        labels = obj["metadata"].get("labels") or {}
        for want, ns, selector, queue in self.watchers:
            if (
                want == plural
                and ns in (None, obj["metadata"].get("namespace"))
                and selector_matches(selector, labels)
            ):
                queue.put_nowait({"type": event, "object": copy.deepcopy(obj)})

    # --- HTTP ---------------------------------------------------------------------------------

    async def __call__(self, raw: aiohttp.web.BaseRequest) -> aiohttp.web.StreamResponse:
        self.requests_seen.append((raw.method, raw.path, raw.headers.get("Content-Type", "")))
        if raw.transport is not None and not raw.transport.get_extra_info("peercert"):
            return status(401, "Unauthorized", "Unauthorized")  # no client certificate: anonymous is off
        watching = raw.query.get("watch") in ("true", "1")
        fault = self._take_fault("WATCH" if watching else raw.method, raw.path)
        if fault is not None and fault.kind == "status":
            reason = {409: "Conflict", 429: "TooManyRequests", 503: "ServiceUnavailable"}.get(
                fault.status, "InternalError"
            )
            return status(fault.status, reason, f"injected fault: {fault.status}")
        if fault is not None and fault.kind == "hang":
            await asyncio.Event().wait()  # until the client gives up
        if fault is not None and fault.kind == "cut":
            return await self.serve_cut_watch(raw)
        if raw.path in ("/version", "/version/"):
            return aiohttp.web.json_response(SERVER_VERSION)
        if raw.path == "/fake/node-created" and raw.method == "POST":  # the fake kind's `create cluster`
            self.add_node(raw.query["name"], float(raw.query.get("notReadyFor", "0")))
            return aiohttp.web.json_response({})
        discovery = re.fullmatch(r"/api/(v1)/?|/apis/([^/]+/[^/]+)/?", raw.path)
        if discovery is not None and raw.method == "GET":  # APIResourceList, as kubectl reads it
            version = discovery[1] or discovery[2]
            if version not in SERVED_VERSIONS:
                return status(404, "NotFound", "the server could not find the requested resource")
            resources = [{"name": p, "singularName": "", "kind": KIND_OF[p], "namespaced": kubestrict.SERVED[KIND_OF[p]][1],
                          "verbs": ["create", "delete", "get", "list", "patch", "update", "watch"]}
                         for p in sorted(SERVED_VERSIONS[version])]  # fmt: skip
            return aiohttp.web.json_response(
                {
                    "kind": "APIResourceList",
                    "apiVersion": "v1",
                    "groupVersion": version,
                    "resources": resources,
                }
            )
        match = _PATH.match(raw.path)
        if match is None:
            return await super().__call__(raw)
        api_version = match["core"] or f"{match['group']}/{match['version']}"
        ns, plural, name, sub = match["ns"], match["plural"], match["name"], match["sub"]
        kind = KIND_OF.get(plural)
        if plural not in SERVED_VERSIONS.get(api_version, set()) or kind is None:
            return status(404, "NotFound", "the server could not find the requested resource")
        if (ns is not None) != kubestrict.SERVED[kind][1]:  # a namespaced kind outside one, or the reverse
            return status(404, "NotFound", "the server could not find the requested resource")
        if raw.method == "PATCH" and ns is not None and self.fetch("v1", "namespaces", None, ns) is None:
            body = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                    "message": f'namespaces "{ns}" not found', "reason": "NotFound",
                    "details": {"name": ns, "kind": "namespaces"}, "code": 404}  # fmt: skip
            return aiohttp.web.json_response(body, status=404)
        if sub == "log":
            return await self.serve_logs(raw, ns, name)
        if sub == "exec":
            return await self.serve_exec(raw, ns, name)
        if sub == "portforward":
            return await self.serve_portforward(raw, ns, name)
        if raw.method == "GET" and name is None and raw.query.get("watch") in ("true", "1"):
            return await self.serve_watch(raw, plural, ns)
        if raw.method == "GET" and name is None:
            selector = raw.query.get("labelSelector", "")
            items = [
                o
                for _v, o in self.items(plural, ns)
                if selector_matches(selector, o["metadata"].get("labels") or {})
            ]
            kind = KIND_OF.get(plural, plural.capitalize())
            return aiohttp.web.json_response({"apiVersion": api_version, "kind": f"{kind}List",
                                              "metadata": {"resourceVersion": self.next_rv()}, "items": items})  # fmt: skip
        if name is None:
            return status(405, "MethodNotAllowed", f"{raw.method} on a collection is not served by this fake")
        if raw.method == "GET":
            obj = self.fetch(api_version, plural, ns, name)
            return (
                aiohttp.web.json_response(obj)
                if obj
                else status(404, "NotFound", f'{plural} "{name}" not found')
            )
        if raw.method == "PATCH":
            return await self.serve_patch(raw, api_version, plural, ns, name)
        if raw.method == "DELETE":
            obj = self.fetch(api_version, plural, ns, name)
            if obj is None:
                return status(404, "NotFound", f'{plural} "{name}" not found')
            self.delete_object(api_version, plural, obj, raw.query.get("propagationPolicy"))
            return aiohttp.web.json_response(obj)
        return status(405, "MethodNotAllowed", f"{raw.method} is not served by this fake")

    async def serve_patch(
        self, raw: aiohttp.web.BaseRequest, api_version: str, plural: str, ns: str | None, name: str
    ) -> aiohttp.web.StreamResponse:
        content_type = raw.headers.get("Content-Type", "")
        body = await raw.read()
        current = self.fetch(api_version, plural, ns, name)
        key = (plural, ns, name)
        try:
            if content_type == "application/apply-patch+yaml":
                if not raw.query.get("fieldManager"):
                    return status(422, "Invalid", "fieldManager is required for apply requests")
                try:
                    applied = yaml.safe_load(body)
                except yaml.YAMLError as exc:
                    return status(400, "BadRequest", f"error decoding YAML: {exc}")
                if not isinstance(applied, dict):
                    return status(400, "BadRequest", "the apply patch is not an object")
                if applied.get("metadata", {}).get("name") != name:
                    return status(
                        400, "BadRequest", "the name of the object does not match the name on the URL"
                    )
                if applied.get("kind") != KIND_OF.get(plural, applied.get("kind")):
                    return status(400, "BadRequest", f"kind {applied.get('kind')} does not match {plural}")
                if ns and applied.get("metadata", {}).get("namespace") not in (None, ns):
                    return status(400, "BadRequest", "the namespace of the provided object does not match "
                                  "the namespace sent on the request")  # fmt: skip
                kubestrict.check_schema(applied, f"{ns}/{name}" if ns else f"/{name}")
                force = raw.query.get("force") == "true"
                owners = self.owners.setdefault(key, kubestrict.Ownership())
                trial = copy.deepcopy(owners)
                merged = trial.apply(current, applied, raw.query["fieldManager"], force)
                kubestrict.fold_string_data(merged)
                obj = self.applied(merged, current, ns)
                kubestrict.check_semantics(obj, current)
                self.owners[key] = trial
                self.appliers.setdefault(key, set()).add(raw.query["fieldManager"])
                event = "MODIFIED" if current else "ADDED"
            elif content_type == "application/strategic-merge-patch+json" and current is not None:
                obj = copy.deepcopy(current)
                annotations = (
                    json.loads(body)
                    .get("spec", {})
                    .get("template", {})
                    .get("metadata", {})
                    .get("annotations", {})
                )
                template_meta = obj["spec"]["template"].setdefault("metadata", {})
                template_meta.setdefault("annotations", {}).update(annotations)
                obj["metadata"]["generation"] = obj["metadata"].get("generation", 1) + 1
                kubestrict.check_semantics(obj, current)
                manager = (
                    raw.query.get("fieldManager") or raw.headers.get("User-Agent", "unknown").split("/")[0]
                )
                self.owners.setdefault(key, kubestrict.Ownership()).update(current, obj, manager)
                event = "MODIFIED"
            elif current is None:
                return status(404, "NotFound", f'{plural} "{name}" not found')
            else:
                return status(415, "UnsupportedMediaType", f"the fake does not serve {content_type}")
        except kubestrict.Rejected as rejected:
            return aiohttp.web.json_response(rejected.status(), status=rejected.code)
        obj["metadata"]["managedFields"] = self.owners[key].managed_fields(
            obj["apiVersion"], now(), self.appliers.get(key, set())
        )
        self.store(api_version, plural, obj, event)  # controllers see it on their next tick, not now
        return aiohttp.web.json_response(obj, status=200 if current else 201)

    def applied(self, obj: Obj, current: Obj | None, ns: str | None) -> Obj:
        """The merged object with the server's metadata; status stays the server's."""
        obj = copy.deepcopy(obj)
        obj["apiVersion"] = (current or obj).get("apiVersion", obj.get("apiVersion"))
        meta = obj.setdefault("metadata", {})
        if ns:
            meta["namespace"] = ns
        old_meta = (current or {}).get("metadata") or {}
        meta["uid"] = old_meta.get("uid") or secrets.token_hex(16)
        meta["creationTimestamp"] = old_meta.get("creationTimestamp") or now()
        generation = old_meta.get("generation", 0)
        if current is None or current.get("spec") != obj.get("spec"):
            generation += 1
        meta["generation"] = generation
        if current is not None and "status" in current:
            obj["status"] = current["status"]
        if obj.get("kind") == "Job" and current is None:  # the generated selector and pod labels
            kubejobs.on_create(obj)
        if obj.get("kind") == "Service":  # the allocator's address, kept for the Service's life
            given = ((current or {}).get("spec") or {}).get("clusterIP")
            obj.setdefault("spec", {})["clusterIP"] = (
                given or f"10.96.{next(self.ip) // 250}.{next(self.ip) % 250 + 2}"
            )
        return obj

    async def serve_watch(
        self, raw: aiohttp.web.BaseRequest, plural: str, ns: str | None
    ) -> aiohttp.web.StreamResponse:
        selector = raw.query.get("labelSelector", "")
        given = raw.query.get("resourceVersion") or "0"
        if not given.isdigit():  # opaque to clients, but the server knows its own
            return status(400, "BadRequest", f'invalid resource version "{given}"')
        since = int(given)
        response = aiohttp.web.StreamResponse(headers={"Content-Type": "application/json"})
        if 0 < since < self.compacted:  # the history before it is gone: the client must list again
            await response.prepare(raw)
            gone = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "code": 410,
                    "reason": "Expired", "message": f"too old resource version: {since} ({self.compacted})"}  # fmt: skip
            await response.write(json.dumps({"type": "ERROR", "object": gone}).encode() + b"\n")
            return response
        queue: asyncio.Queue[Obj] = asyncio.Queue()
        entry = (plural, ns, selector, queue)
        self.watchers.append(entry)
        await response.prepare(raw)
        loop = asyncio.get_running_loop()
        ends = loop.time() + float(raw.query.get("timeoutSeconds") or 1800)
        bookmarks = raw.query.get("allowWatchBookmarks") == "true"
        try:
            for _v, obj in self.items(plural, ns):
                if int(obj["metadata"]["resourceVersion"]) > since and selector_matches(
                    selector, obj["metadata"].get("labels") or {}
                ):
                    await response.write(json.dumps({"type": "ADDED", "object": obj}).encode() + b"\n")
            while (left := ends - loop.time()) > 0:  # the server ends each watch after timeoutSeconds
                try:
                    event = await asyncio.wait_for(queue.get(), min(left, BOOKMARK_S))
                except TimeoutError:
                    if bookmarks and ends - loop.time() > 0:  # a BOOKMARK carries the latest resourceVersion
                        mark = {
                            "kind": KIND_OF.get(plural, ""),
                            "metadata": {"resourceVersion": str(self.rv_now)},
                        }
                        await response.write(
                            json.dumps({"type": "BOOKMARK", "object": mark}).encode() + b"\n"
                        )
                    continue
                await response.write(json.dumps(event).encode() + b"\n")
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            self.watchers.remove(entry)
        return response

    async def serve_cut_watch(self, raw: aiohttp.web.BaseRequest) -> aiohttp.web.StreamResponse:
        """A watch whose connection drops in the middle of its first event."""
        response = aiohttp.web.StreamResponse(headers={"Content-Type": "application/json"})
        await response.prepare(raw)
        await response.write(b'{"type": "ADDED", "object": {"metadata": {"na')
        assert raw.transport is not None
        raw.transport.abort()
        return response

    def delete_object(self, api_version: str, plural: str, obj: Obj, propagation: str | None = None) -> None:
        if plural == "pods":
            self.begin_termination(obj)
            return
        if plural == "persistentvolumeclaims":  # kept until no pod uses it (release_claims)
            if not obj["metadata"].get("deletionTimestamp"):
                obj["metadata"]["deletionTimestamp"] = now()
                self.store(api_version, plural, obj, "MODIFIED")
            return
        self.drop(api_version, plural, obj)
        if plural == "deployments":  # the garbage collector removes what the Deployment owned
            for pod in self.pods_of(obj):
                self.begin_termination(pod)
        if plural == "statefulsets":
            for pod in self.stateful_pods(obj):
                self.begin_termination(pod)
        if plural == "jobs":
            kubejobs.on_delete(self, obj, propagation)

    # --- the StatefulSet controller (pods NAME-0..N-1, one at a time; a claim each, kept) ------------

    def stateful_pods(self, sts: Obj) -> list[Obj]:
        name = sts["metadata"]["name"]
        return [
            p for _v, p in self.items("pods", sts["metadata"].get("namespace"))
            if any(r.get("kind") == "StatefulSet" and r.get("name") == name
                   for r in p["metadata"].get("ownerReferences", []))
        ]  # fmt: skip

    def reconcile_stateful(self, sts: Obj) -> None:
        ns = sts["metadata"].get("namespace")
        wanted = int(sts["spec"].get("replicas", 1))
        pods = {
            p["metadata"]["name"]: p
            for p in self.stateful_pods(sts)
            if not p["metadata"].get("deletionTimestamp")
        }
        for ordinal in range(wanted):
            name = f"{sts['metadata']['name']}-{ordinal}"
            if name not in pods:
                if all(self.pod_ready(p) for p in pods.values()):  # ordered: the next once the last is ready
                    template = copy.deepcopy(sts["spec"]["template"])
                    meta = template.get("metadata") or {}
                    template["spec"]["volumes"] = [
                        *(template["spec"].get("volumes") or []),
                        *({"name": claim["metadata"]["name"],
                           "persistentVolumeClaim": {"claimName": self.ensure_claim(sts, claim, name)}}
                          for claim in sts["spec"].get("volumeClaimTemplates") or []),
                    ]  # fmt: skip
                    self.store("v1", "pods", {
                        "apiVersion": "v1", "kind": "Pod",
                        "metadata": {**meta, "name": name, "namespace": ns, "uid": secrets.token_hex(16),
                                     "creationTimestamp": now(), "labels": dict(meta.get("labels") or {}),
                                     "ownerReferences": [{"apiVersion": "apps/v1", "kind": "StatefulSet",
                                                          "controller": True, "name": sts["metadata"]["name"],
                                                          "uid": "sts"}]},
                        "spec": {**template["spec"], "hostname": name},
                        "status": {"phase": "Pending"},
                    }, "ADDED")  # fmt: skip
                break
        ready = len([p for p in pods.values() if self.pod_ready(p)])
        status_now = {"observedGeneration": sts["metadata"].get("generation", 1), "replicas": len(pods),
                      "readyReplicas": ready, "availableReplicas": ready}  # fmt: skip
        current = self.fetch("apps/v1", "statefulsets", ns, sts["metadata"]["name"])
        if current is not None and current.get("status") != status_now:
            current["status"] = status_now
            self.store("apps/v1", "statefulsets", current, "MODIFIED")

    def ensure_claim(self, sts: Obj, template: Obj, pod: str) -> str:
        """The claim of a StatefulSet pod, made once (as the controller does: NAME-POD, the template's
        labels plus the selector's); it outlives the StatefulSet. Bound at once: a Docker volume backs it."""
        ns = sts["metadata"].get("namespace")
        name = f"{template['metadata']['name']}-{pod}"
        if self.fetch("v1", "persistentvolumeclaims", ns, name) is None:
            labels = {**(template["metadata"].get("labels") or {}),
                      **((sts["spec"].get("selector") or {}).get("matchLabels") or {})}  # fmt: skip
            self.store("v1", "persistentvolumeclaims", {
                "apiVersion": "v1", "kind": "PersistentVolumeClaim",
                "metadata": {"name": name, "namespace": ns, "labels": labels, "uid": secrets.token_hex(16),
                             "creationTimestamp": now(), "finalizers": ["kubernetes.io/pvc-protection"]},
                "spec": {**template.get("spec", {}), "volumeName": f"pvc-{secrets.token_hex(8)}",
                         "storageClassName": "standard"},
                "status": {"phase": "Bound"},
            }, "ADDED")  # fmt: skip
        return name

    def volume_of(self, ns: str | None, claim: str) -> str:
        """The Docker volume that backs a claim."""
        return f"devloop-fake-{self.cluster_id}-{ns}-{claim}"

    def release_claims(self) -> None:
        """A deleted claim goes (with its volume) once no pod uses it: the pvc-protection finalizer."""
        for _v, claim in self.items("persistentvolumeclaims", None):
            if not claim["metadata"].get("deletionTimestamp"):
                continue
            ns, name = claim["metadata"].get("namespace"), claim["metadata"]["name"]
            used = any(
                (v.get("persistentVolumeClaim") or {}).get("claimName") == name
                for _v2, pod in self.items("pods", ns)
                for v in pod["spec"].get("volumes") or []
            )
            if not used:
                self.drop("v1", "persistentvolumeclaims", claim)
                with contextlib.suppress(docker.errors.APIError):
                    self.docker.api.remove_volume(self.volume_of(ns, name), force=True)

    # --- the Deployment controller ------------------------------------------------------------

    def pods_of(self, deployment: Obj) -> list[Obj]:
        name = deployment["metadata"]["name"]
        return [
            p for _v, p in self.items("pods", deployment["metadata"].get("namespace"))
            if any(r.get("name", "").rpartition("-")[0] == name for r in p["metadata"].get("ownerReferences", []))
        ]  # fmt: skip

    @staticmethod
    def template_hash(deployment: Obj) -> str:
        """As the controller makes it: a 32-bit hash's decimal digits, each mapped to a letter or digit of
        apimachinery's safe alphabet (rand.SafeEncodeString), never plain hex."""
        digest = hashlib.sha256(json.dumps(deployment["spec"]["template"], sort_keys=True).encode()).digest()
        number = str(int.from_bytes(digest[:4], "big"))
        return "".join(SAFE_ALPHABET[ord(c) % len(SAFE_ALPHABET)] for c in number)

    def reconcile(self, deployment: Obj) -> None:
        """One step of the rolling update (maxSurge 1, maxUnavailable 0), then the status fields."""
        ns = deployment["metadata"].get("namespace")
        deployment = self.fetch("apps/v1", "deployments", ns, deployment["metadata"]["name"]) or deployment
        wanted = int(deployment["spec"].get("replicas", 1))
        current_hash = self.template_hash(deployment)

        def split() -> tuple[list[Obj], list[Obj], list[Obj]]:
            pods = [p for p in self.pods_of(deployment) if not p["metadata"].get("deletionTimestamp")]
            new = [p for p in pods if p["metadata"]["labels"].get("pod-template-hash") == current_hash]
            return pods, new, [p for p in pods if p not in new]

        pods, new, old = split()
        ready = [p for p in pods if self.pod_ready(p)]
        if len(new) < wanted and len(pods) < wanted + 1:
            self.create_pod(deployment, current_hash)
        elif len(new) > wanted:
            self.begin_termination(new[-1])
        elif old:
            victim = next((p for p in old if not self.pod_ready(p)), old[0])
            if not self.pod_ready(victim) or len(ready) - 1 >= wanted:
                self.begin_termination(victim)
        pods, new, old = split()
        ready_count = len([p for p in pods if self.pod_ready(p)])
        new_ready = len([p for p in new if self.pod_ready(p)])
        status_now = {
            "observedGeneration": deployment["metadata"].get("generation", 1),
            "replicas": len(pods),
            "updatedReplicas": len(new),
            "readyReplicas": ready_count,
            "availableReplicas": ready_count,
            "conditions": [
                {"type": "Available", "status": "True" if ready_count >= wanted else "False"},
                self.progressing(deployment, current_hash, (len(new), new_ready, len(old)),
                                 new_ready == wanted and not old),
            ],
        }  # fmt: skip
        if deployment.get("status") != status_now:
            deployment["status"] = status_now
            self.store("apps/v1", "deployments", deployment, "MODIFIED")

    def progressing(
        self, deployment: Obj, template_hash: str, progress: tuple[int, ...], complete: bool
    ) -> Obj:
        """The Progressing condition as the controller keeps it: reset by a new generation or any progress,
        False with ProgressDeadlineExceeded after `progressDeadlineSeconds` without progress, and kept so
        until the next generation."""
        key = f"{deployment['metadata'].get('namespace')}/{deployment['metadata']['name']}"
        status_was = deployment.get("status") or {}
        was = next((c for c in status_was.get("conditions") or [] if c.get("type") == "Progressing"), None)
        new_generation = status_was.get("observedGeneration") != deployment["metadata"].get("generation", 1)
        loop_now = asyncio.get_running_loop().time()
        seen = self.progress.get(key)
        rs = f"{deployment['metadata']['name']}-{template_hash}"
        if complete:
            self.progress[key] = (progress, loop_now)
            return {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable",
                    "message": f'ReplicaSet "{rs}" has successfully progressed.'}  # fmt: skip
        if new_generation or was is None or seen is None or seen[0] != progress:
            self.progress[key] = (progress, loop_now)
            return {"type": "Progressing", "status": "True", "reason": "ReplicaSetUpdated",
                    "message": f'ReplicaSet "{rs}" is progressing.'}  # fmt: skip
        deadline = float(deployment["spec"].get("progressDeadlineSeconds", 600))
        if was.get("reason") == "ProgressDeadlineExceeded" or loop_now - seen[1] > deadline:
            return {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded",
                    "message": f'ReplicaSet "{rs}" has timed out progressing.'}  # fmt: skip
        return dict(was)

    def create_pod(self, deployment: Obj, template_hash: str) -> None:
        template = copy.deepcopy(deployment["spec"]["template"])
        meta = template.get("metadata") or {}
        suffix = "".join(secrets.choice(SAFE_ALPHABET) for _ in range(5))  # utilrand.String(5)
        name = f"{deployment['metadata']['name']}-{template_hash}-{suffix}"
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                **meta, "name": name, "namespace": deployment["metadata"].get("namespace"),
                "labels": {**(meta.get("labels") or {}), "pod-template-hash": template_hash},
                "uid": secrets.token_hex(16), "creationTimestamp": now(),
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "controller": True,
                                     "name": f"{deployment['metadata']['name']}-{template_hash}", "uid": "rs"}],
            },
            "spec": dict(template["spec"]),
            "status": {"phase": "Pending"},
        }  # fmt: skip
        self.store("v1", "pods", pod, "ADDED")

    @staticmethod
    def pod_ready(pod: Obj) -> bool:
        return any(
            c.get("type") == "Ready" and c.get("status") == "True"
            for c in (pod.get("status") or {}).get("conditions", [])
        )

    # --- the kubelet ----------------------------------------------------------------------------

    def start_controllers(self) -> None:
        self.add_node("devloop-control-plane", 0)  # a cluster that exists already has a Ready node
        self.tasks.add(asyncio.get_running_loop().create_task(self.control_loop()))

    async def control_loop(self) -> None:
        while True:
            for _v, deployment in self.items("deployments", None):
                self.reconcile(deployment)
            for _v, sts in self.items("statefulsets", None):
                self.reconcile_stateful(sts)
            for _v, job in self.items("jobs", None):
                kubejobs.reconcile(self, job)
            self.update_nodes()
            for _v, pod in self.items("pods", None):
                if pod["metadata"].get("deletionTimestamp"):
                    continue
                if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
                    continue  # terminal: the kubelet starts nothing more in it
                if not pod["spec"].get("nodeName"):
                    self.schedule(pod)
                else:
                    self.sync_in_worker(pod)
            self.release_claims()
            await asyncio.sleep(PROBE_PERIOD_S)

    def sync_in_worker(self, pod: Obj) -> None:
        """Sync the pod on its own task, as the kubelet's pod workers do: a slow probe of a busy pod
        never holds up another pod's start (a rollout under load), and one sync per pod at a time."""
        key = self.key(pod)
        if key in self.pod_workers:
            return
        worker = asyncio.ensure_future(self.sync_pod(pod))
        self.pod_workers[key] = worker
        self.tasks.add(worker)

        def done(task: asyncio.Task[None]) -> None:
            self.pod_workers.pop(key, None)
            self.tasks.discard(task)

        worker.add_done_callback(done)

    # --- nodes and the scheduler ------------------------------------------------------------------

    def add_node(self, name: str, not_ready_for: float, runtime: str = "containerd://1.7.18") -> None:
        """A node as a new kind cluster has it: NotReady (with the not-ready taint) for a while; its
        nodeInfo names the container runtime as the kubelet reports it (kind's nodes run containerd)."""
        self.node_ready_at[name] = asyncio.get_running_loop().time() + not_ready_for
        self.store("v1", "nodes", {
            "apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name, "uid": secrets.token_hex(16), "creationTimestamp": now(),
                         "labels": {"kubernetes.io/hostname": name, "ingress-ready": "true",
                                    "node-role.kubernetes.io/control-plane": ""}},
            "spec": {"taints": [{"key": "node.kubernetes.io/not-ready", "effect": "NoSchedule"}]},
            "status": {"nodeInfo": {"containerRuntimeVersion": runtime, "kubeletVersion": "v1.31.4",
                                    "operatingSystem": "linux", "architecture": "amd64"},
                       "conditions": [{"type": "Ready", "status": "False", "reason": "KubeletNotReady",
                                       "message": "container runtime network not ready: NetworkReady=false "
                                                  "reason:NetworkPluginNotReady message:Network plugin returns "
                                                  "error: cni plugin not initialized"}]},
        }, "ADDED")  # fmt: skip
        if not_ready_for <= 0:
            self.update_nodes()

    def update_nodes(self) -> None:
        loop_now = asyncio.get_running_loop().time()
        for name, ready_at in list(self.node_ready_at.items()):
            if loop_now >= ready_at:
                del self.node_ready_at[name]
                node = self.fetch("v1", "nodes", None, name)
                if node is not None:
                    node["spec"].pop("taints", None)
                    node["status"]["conditions"] = [{"type": "Ready", "status": "True", "reason": "KubeletReady",
                                                     "message": "kubelet is posting ready status"}]  # fmt: skip
                    self.store("v1", "nodes", node, "MODIFIED")

    def schedule(self, pod: Obj) -> None:
        """The scheduler: a Ready node without taints takes the pod; none, and the pod is Unschedulable."""
        nodes = [n for _v, n in self.items("nodes", None)]
        fit = [n for n in nodes if not n["spec"].get("taints")
               and any(c["type"] == "Ready" and c["status"] == "True" for c in n["status"]["conditions"])]  # fmt: skip
        if fit:
            pod["spec"]["nodeName"] = fit[0]["metadata"]["name"]
            pod["status"] = {"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "True"}]}
            self.store("v1", "pods", pod, "MODIFIED")
            return
        count = len(nodes)
        taints = [t for n in nodes for t in n["spec"].get("taints") or []] or [
            {"key": "node.kubernetes.io/not-ready"}
        ]
        taint = f"{{{taints[0]['key']}: {taints[0].get('value', '')}}}"
        message = (f"0/{count} nodes are available: {count} node(s) had untolerated taint {taint}. "
                   f"preemption: 0/{count} nodes are available: {count} Preemption is not helpful for scheduling.")  # fmt: skip
        condition = {"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": message}
        if (pod.get("status") or {}).get("conditions") != [condition]:
            pod["status"] = {"phase": "Pending", "conditions": [condition]}
            self.store("v1", "pods", pod, "MODIFIED")

    @staticmethod
    def key(pod: Obj) -> str:
        return f"{pod['metadata'].get('namespace')}/{pod['metadata']['name']}"

    def set_pod_status(self, pod: Obj, container_status: Obj, ready: bool, phase: str = "Running",
                       others: list[Obj] | None = None) -> None:  # fmt: skip
        current = self.fetch("v1", "pods", pod["metadata"].get("namespace"), pod["metadata"]["name"])
        if current is None or current["metadata"].get("deletionTimestamp"):
            return  # deleted or terminating meanwhile: the kubelet reports no more
        pod = current
        status_now = {
            "phase": phase,
            "podIP": pod.get("status", {}).get("podIP") or f"10.244.0.{next(self.ip)}",
            "hostIP": "172.18.0.2",
            "conditions": [{"type": "PodScheduled", "status": "True"},
                           {"type": "ContainersReady", "status": str(ready)},
                           {"type": "Ready", "status": str(ready)}],
            "containerStatuses": [container_status, *(others or [])],
        }  # fmt: skip
        if pod.get("status") != status_now:
            pod["status"] = status_now
            self.store("v1", "pods", pod, "MODIFIED")

    async def sync_pod(self, pod: Obj) -> None:
        spec = pod["spec"]["containers"][0]
        key = self.key(pod)
        base: Obj = {"name": spec["name"], "image": spec["image"], "ready": False, "restartCount": 0}
        previous = ((pod.get("status") or {}).get("containerStatuses") or [{}])[0]
        base["restartCount"] = previous.get("restartCount", 0)
        if key not in self.containers:
            try:
                cid = await asyncio.to_thread(self.run_container, pod, spec)
            except PodError as exc:
                self.set_pod_status(
                    pod,
                    {**base, "state": {"waiting": {"reason": exc.reason, "message": str(exc)}}},
                    False,
                    "Pending",
                )
                return
            self.containers[key] = cid
        cid = self.containers[key]
        try:
            container = await asyncio.to_thread(self.docker.containers.get, cid)
        except docker.errors.NotFound:
            return
        state = container.attrs["State"]
        self.note_run(cid, state)
        self.network[cid] = container.attrs["NetworkSettings"]
        policy = pod["spec"].get("restartPolicy", "Always")
        if not state.get("Running") and key not in self.restarting and (
            policy == "Never" or (policy == "OnFailure" and state.get("ExitCode") == 0)
        ):  # it ran to its end: the pod is done, its container kept for its logs until the pod goes
            code = state.get("ExitCode", 1)
            reason = "Completed" if code == 0 else ("OOMKilled" if state.get("OOMKilled") else "Error")
            terminated = {"exitCode": code, "reason": reason, "containerID": f"docker://{cid}",
                          "startedAt": state.get("StartedAt"), "finishedAt": state.get("FinishedAt")}  # fmt: skip
            self.set_pod_status(pod, {**base, "started": False, "containerID": f"docker://{cid}",
                                      "state": {"terminated": terminated}}, False,
                                "Succeeded" if code == 0 else "Failed")  # fmt: skip
            return
        if not state.get("Running"):
            if key not in self.restarting:
                code = state.get("ExitCode", 1)
                terminated = {"exitCode": code, "reason": "OOMKilled" if state.get("OOMKilled") else "Error"}
                base["restartCount"] += 1
                # The back-off doubles with each restart (the kubelet: 10 s up to 5 min), scaled down.
                backoff = CRASH_BACKOFF_S * 2 ** min(base["restartCount"] - 1, 5)
                waiting = {"reason": "CrashLoopBackOff", "message": "back-off restarting failed container"}
                self.set_pod_status(pod, {**base, "lastState": {"terminated": terminated},
                                          "state": {"waiting": waiting}}, False)  # fmt: skip
                self.restarting.add(key)
                self.forget_probes(key)
                asyncio.get_running_loop().call_later(
                    backoff, lambda: self.spawn(self.restart_container(key, cid))
                )
            return
        host_port = self.host_port(container, spec)
        was_ready = bool(previous.get("ready"))
        loop = asyncio.get_running_loop()
        started = await self.startup_passed(pod, spec, host_port, cid, base)
        if started is None:
            return  # killed for failing its startup probe: it restarts
        if started and not await self.still_alive(pod, spec, host_port, cid, base):
            return  # killed for failing its liveness probe: it restarts
        if not started:
            ready = False  # readiness is not probed before the startup probe passed
        elif was_ready and loop.time() - self.probed.get(key, 0.0) < READY_PROBE_PERIOD_S:
            ready = True  # a ready pod is probed once a period, as the kubelet does
        else:
            ready = await self.probe(spec, host_port, cid)
            self.probed[key] = loop.time()
        running = {**base, "ready": ready, "started": started, "containerID": f"docker://{cid}",
                   "state": {"running": {"startedAt": state.get("StartedAt", now())}}}  # fmt: skip
        if "lastState" in previous:
            running["lastState"] = previous["lastState"]
        others = await self.sync_sidecars(pod, cid)
        pod_ready = ready and all(o["ready"] for o in others)
        self.set_pod_status(pod, running, pod_ready, others=others)

    def probe_due(self, key: str, kind: str, probe: Obj) -> bool:
        loop_now = asyncio.get_running_loop().time()
        first = self.probe_started.setdefault(key, loop_now) + float(probe.get("initialDelaySeconds", 0))
        last = self.probe_times.get((key, kind))
        if loop_now < first or (last is not None and loop_now - last < float(probe.get("periodSeconds", 10))):
            return False
        self.probe_times[(key, kind)] = loop_now
        return True

    async def startup_passed(
        self, pod: Obj, spec: Obj, host_port: int | None, cid: str, base: Obj
    ) -> bool | None:
        """Whether the startup probe has passed (True without one); None once it failed for good."""
        key = self.key(pod)
        probe = spec.get("startupProbe")
        if probe is None or key in self.started_ok:
            return True
        if not self.probe_due(key, "startup", probe):
            return False
        if await self.probe({**spec, "readinessProbe": probe}, host_port, cid):
            self.started_ok.add(key)
            self.probe_failures.pop((key, "startup"), None)
            return True
        if self.count_failure(key, "startup", probe):
            self.kill_for_probe(pod, cid, base, "startup")
            return None
        return False

    async def still_alive(self, pod: Obj, spec: Obj, host_port: int | None, cid: str, base: Obj) -> bool:
        """False once the liveness probe failed failureThreshold times in a row (the container is killed)."""
        key = self.key(pod)
        probe = spec.get("livenessProbe")
        if probe is None or not self.probe_due(key, "liveness", probe):
            return True
        if await self.probe({**spec, "readinessProbe": probe}, host_port, cid):
            self.probe_failures.pop((key, "liveness"), None)
            return True
        if self.count_failure(key, "liveness", probe):
            self.kill_for_probe(pod, cid, base, "liveness")
            return False
        return True

    def note_run(self, cid: str, state: Obj) -> None:
        """Where each run of a container (an instance, for logs) begins in its log, as a UNIX time:
        the previous run's end (a process writes before Docker records its StartedAt)."""

        def unix(stamp: object) -> float | None:
            match = re.match(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?Z", str(stamp or ""))
            if match is None or str(stamp).startswith("0001"):
                return None
            return datetime.fromisoformat(match[1] + "+00:00").timestamp() + float(match[2] or 0)

        started, finished = unix(state.get("StartedAt")), unix(state.get("FinishedAt"))
        if started is None:
            return
        runs = self.run_starts.setdefault(cid, [])
        seen = self.run_seen.setdefault(cid, [])
        if not seen or started > seen[-1]:
            seen.append(started)
            ended = finished if finished is not None and finished < started else None
            runs.append(0.0 if len(seen) == 1 else (ended if ended is not None else started - 0.05))

    def forget_probes(self, key: str) -> None:
        """A container that starts again is probed from the start again."""
        self.started_ok.discard(key)
        self.probe_started.pop(key, None)
        for probe_kind in ("startup", "liveness"):
            self.probe_failures.pop((key, probe_kind), None)
            self.probe_times.pop((key, probe_kind), None)

    def count_failure(self, key: str, kind: str, probe: Obj) -> bool:
        count = self.probe_failures[(key, kind)] = self.probe_failures.get((key, kind), 0) + 1
        return count >= int(probe.get("failureThreshold", 3))

    def kill_for_probe(self, pod: Obj, cid: str, base: Obj, kind: str) -> None:
        """As the kubelet does on a failed startup or liveness probe: kill the container, start it again."""
        key = self.key(pod)
        self.forget_probes(key)
        self.restarting.add(key)
        terminated = {
            "exitCode": 137,
            "reason": "Error",
            "message": f"{kind} probe failed; the container was killed",
        }
        waiting = {"reason": "CrashLoopBackOff", "message": "back-off restarting failed container"}
        self.set_pod_status(pod, {**base, "restartCount": base["restartCount"] + 1,
                                  "lastState": {"terminated": terminated}, "state": {"waiting": waiting}}, False)  # fmt: skip
        grace = int(pod["spec"].get("terminationGracePeriodSeconds", 30))

        async def restart() -> None:
            with contextlib.suppress(docker.errors.APIError):
                await asyncio.to_thread(self.docker.api.restart, cid, timeout=min(grace, 2))
            self.restarting.discard(key)

        self.spawn(restart())

    async def sync_sidecars(self, pod: Obj, main: str) -> list[Obj]:
        """The pod's other containers, run as the kubelet runs them: in the first one's network
        namespace (localhost is shared), each with its own status."""
        key = self.key(pod)
        started = self.sidecars.setdefault(key, {})
        statuses = []
        for spec in pod["spec"]["containers"][1:]:
            name = spec["name"]
            if name not in started:
                started[name] = await asyncio.to_thread(self.run_container, pod, spec, main)
            try:
                container = await asyncio.to_thread(self.docker.containers.get, started[name])
            except docker.errors.NotFound:
                continue
            state = container.attrs["State"]
            base = {"name": name, "image": spec["image"], "restartCount": 0, "started": True,
                    "containerID": f"docker://{started[name]}"}  # fmt: skip
            if state.get("Running"):
                statuses.append(
                    {**base, "ready": True, "state": {"running": {"startedAt": state["StartedAt"]}}}
                )
            else:
                terminated = {"exitCode": state.get("ExitCode", 1), "reason": "Error"}
                statuses.append({**base, "ready": False, "state": {"terminated": terminated}})
        return statuses

    def spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def restart_container(self, key: str, cid: str) -> None:
        with contextlib.suppress(docker.errors.APIError):
            await asyncio.to_thread(self.docker.api.start, cid)
        self.restarting.discard(key)

    @staticmethod
    def host_port(container: Any, spec: Obj) -> int | None:
        for port in spec.get("ports") or []:
            bindings = (container.attrs["NetworkSettings"]["Ports"] or {}).get(
                f"{port['containerPort']}/tcp"
            ) or []
            for binding in bindings:
                return int(binding["HostPort"])
        return None

    async def probe(self, spec: Obj, host_port: int | None, cid: str | None = None) -> bool:
        probe = spec.get("readinessProbe")
        if not probe:
            return True
        if "exec" in probe and cid is not None:  # as the kubelet: run it in the container, exit 0 is ready
            container = await asyncio.to_thread(self.docker.containers.get, cid)
            result = await asyncio.to_thread(container.exec_run, probe["exec"]["command"])
            return bool(result.exit_code == 0)
        action = probe.get("tcpSocket") or probe.get("httpGet") or {}
        port = action.get("port")
        for declared in spec.get("ports") or []:  # a named port is the container's port of that name
            if port == declared.get("name"):
                port = declared["containerPort"]
        address = ("127.0.0.1", host_port)
        if cid is not None:  # the pod's own address, as the kubelet dials it: any port, published or not
            if cid not in self.network:
                container = await asyncio.to_thread(self.docker.containers.get, cid)
                self.network[cid] = container.attrs["NetworkSettings"]
            ip = self.network[cid].get("IPAddress")
            if ip and isinstance(port, int):
                address = (ip, port)
        if address[1] is None:
            return False
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection(*address), 1)
        except (OSError, TimeoutError):
            return False
        try:
            if "tcpSocket" in probe:
                return True
            path = probe["httpGet"].get("path", "/")
            writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode())
            await writer.drain()
            line = await asyncio.wait_for(reader.readline(), probe.get("timeoutSeconds", 1))
            parts = line.split()
            return len(parts) > 1 and 200 <= int(parts[1]) < 400
        except (OSError, TimeoutError, ValueError):
            return False
        finally:
            writer.close()

    def run_container(self, pod: Obj, spec: Obj, network_of: str | None = None) -> str:
        image = spec["image"]
        policy = spec.get("imagePullPolicy")  # an unset one is IfNotPresent here (content tags)
        try:
            if policy == "Always":
                raise docker.errors.ImageNotFound("Always pulls")
            details = self.docker.images.get(image)
        except docker.errors.ImageNotFound:
            if policy == "Never":
                raise PodError("ErrImageNeverPull", f'Container image "{image}" is not present with pull '
                               "policy of Never") from None  # fmt: skip
            if not re.match(r"^(localhost|127\.0\.0\.1):\d+/", image):
                raise PodError("ErrImagePull", f'failed to pull image "{image}": not found') from None
            try:
                details = self.docker.images.pull(image)
            except docker.errors.APIError as exc:
                raise PodError("ErrImagePull", f'failed to pull image "{image}": {exc.explanation}') from None
        user = (details.attrs.get("Config") or {}).get("User") or ""
        pod_security = pod["spec"].get("securityContext") or {}
        container_security = spec.get("securityContext") or {}
        if container_security.get("runAsNonRoot", pod_security.get("runAsNonRoot")):
            uid = user.split(":", 1)[0] or "0"  # no USER: the image runs as root
            if not uid.isdigit():
                raise PodError("CreateContainerConfigError", "container has runAsNonRoot and image has non-numeric user "
                               f"({uid}), cannot verify user is non-root")  # fmt: skip
            if uid == "0":
                raise PodError(
                    "CreateContainerConfigError", "container has runAsNonRoot and image will run as root"
                )
        env = self.environment(pod, spec)
        ports = {f"{p['containerPort']}/tcp": ("127.0.0.1", None) for p in spec.get("ports") or []}
        memory = ((spec.get("resources") or {}).get("limits") or {}).get("memory")
        command = spec.get("command")
        args = [
            re.sub(r"\$\((\w+)\)", lambda m: env.get(m.group(1), m.group(0)), a)
            for a in spec.get("args") or []
        ]
        container = self.docker.containers.run(
            image,
            command=args or None,
            entrypoint=command,
            environment=env,
            ports=ports if network_of is None else None,
            network_mode=f"container:{network_of}" if network_of else None,
            mem_limit=memory.replace("Mi", "m") if memory else None,
            volumes=self.mounts(pod, spec),
            **self.security(pod, spec),
            labels={KUBELET_LABEL: self.cluster_id, POD_LABEL: self.key(pod)},
            detach=True,
        )
        return str(container.id)

    @staticmethod
    def security(pod: Obj, spec: Obj) -> dict[str, Any]:
        """What of the security contexts Docker can honour: capabilities, user and group, no new
        privileges, a read-only root file system (the container's context over the pod's)."""
        pod_context = pod["spec"].get("securityContext") or {}
        context = {**pod_context, **(spec.get("securityContext") or {})}
        found: dict[str, Any] = {}
        capabilities = context.get("capabilities") or {}
        if capabilities.get("drop"):
            found["cap_drop"] = list(capabilities["drop"])
        if capabilities.get("add"):
            found["cap_add"] = list(capabilities["add"])
        if context.get("allowPrivilegeEscalation") is False:
            found["security_opt"] = ["no-new-privileges"]
        if "runAsUser" in context:
            found["user"] = str(context["runAsUser"]) + (
                f":{context['runAsGroup']}" if "runAsGroup" in context else ""
            )
        if context.get("readOnlyRootFilesystem"):
            found["read_only"] = True
        return found

    def mounts(self, pod: Obj, spec: Obj) -> dict[str, dict[str, str]]:
        """The container's claim mounts, each a Docker volume (labelled, so stop() removes it)."""
        ns = pod["metadata"].get("namespace")
        claims = {
            v["name"]: v["persistentVolumeClaim"]["claimName"]
            for v in pod["spec"].get("volumes") or []
            if "persistentVolumeClaim" in v
        }
        found = {}
        for mount in spec.get("volumeMounts") or []:
            claim = claims.get(mount["name"])
            if claim is not None:
                volume = self.volume_of(ns, claim)
                with contextlib.suppress(docker.errors.APIError):
                    self.docker.api.create_volume(volume, labels={KUBELET_LABEL: self.cluster_id})
                found[volume] = {"bind": mount["mountPath"], "mode": "rw"}
        return found

    def environment(self, pod: Obj, spec: Obj) -> dict[str, str]:
        ns = pod["metadata"].get("namespace")
        env: dict[str, str] = {}
        for source in spec.get("envFrom") or []:
            if "configMapRef" in source:
                cm = self.fetch("v1", "configmaps", ns, source["configMapRef"]["name"]) or {}
                env.update(cm.get("data") or {})
            if "secretRef" in source:
                secret = self.fetch("v1", "secrets", ns, source["secretRef"]["name"]) or {}
                env.update({k: base64.b64decode(v).decode() for k, v in (secret.get("data") or {}).items()})
        for item in spec.get("env") or []:
            env[item["name"]] = str(item.get("value", ""))
        # The kubelet's service links: every Service of the namespace (unless enableServiceLinks is
        # false) and the API server's own `kubernetes` Service, never over a variable the pod sets.
        services = [o for _v, o in self.items("services", "default") if o["metadata"]["name"] == "kubernetes"]
        if pod["spec"].get("enableServiceLinks", True):
            services += [o for _v, o in self.items("services", ns) if ns != "default"]
        for service in services:
            for key, value in self.service_link(service).items():
                env.setdefault(key, value)
        env["HOSTNAME"] = pod["metadata"]["name"]
        return env

    @staticmethod
    def service_link(service: Obj) -> dict[str, str]:
        """The variables the kubelet makes of a Service (pkg/kubelet/envvars), e.g. REDIS_PORT=tcp://..."""
        ip = (service.get("spec") or {}).get("clusterIP")
        ports = (service.get("spec") or {}).get("ports") or []
        if not ip or ip == "None" or not ports:
            return {}
        prefix = service["metadata"]["name"].upper().replace("-", "_")
        first = ports[0]
        out = {f"{prefix}_SERVICE_HOST": ip, f"{prefix}_SERVICE_PORT": str(first["port"]),
               f"{prefix}_PORT": f"{first.get('protocol', 'TCP').lower()}://{ip}:{first['port']}"}  # fmt: skip
        for port in ports:
            protocol = port.get("protocol", "TCP")
            if port.get("name"):
                out[f"{prefix}_SERVICE_PORT_{port['name'].upper().replace('-', '_')}"] = str(port["port"])
            base = f"{prefix}_PORT_{port['port']}_{protocol}"
            out[base] = f"{protocol.lower()}://{ip}:{port['port']}"
            out[f"{base}_PROTO"], out[f"{base}_PORT"], out[f"{base}_ADDR"] = (
                protocol.lower(),
                str(port["port"]),
                ip,
            )
        return out

    def begin_termination(self, pod: Obj) -> None:
        """Mark the pod terminating now; its container stops (SIGTERM, grace period) in the background."""
        current = self.fetch("v1", "pods", pod["metadata"].get("namespace"), pod["metadata"]["name"])
        if current is None or current["metadata"].get("deletionTimestamp"):
            return
        current["metadata"]["deletionTimestamp"] = now()
        self.store("v1", "pods", current, "MODIFIED")
        self.spawn(self.finish_termination(current))

    async def finish_termination(self, pod: Obj) -> None:
        grace = int(pod["spec"].get("terminationGracePeriodSeconds", 30))
        worker = self.pod_workers.get(self.key(pod))
        if worker is not None:  # a sync under way may be starting the container: let it finish first
            await asyncio.wait([worker])
        for sidecar in self.sidecars.pop(self.key(pod), {}).values():
            await asyncio.to_thread(self.stop_container, sidecar, grace)
            self.network.pop(sidecar, None)
        cid = self.containers.pop(self.key(pod), None)
        if cid is not None:
            await asyncio.to_thread(self.stop_container, cid, grace)
            self.network.pop(cid, None)
        self.drop("v1", "pods", pod)

    def stop_container(self, cid: str, grace: int) -> None:
        with contextlib.suppress(docker.errors.NotFound, docker.errors.APIError):
            self.docker.api.stop(cid, timeout=grace)
        with contextlib.suppress(docker.errors.NotFound, docker.errors.APIError):
            self.docker.api.remove_container(cid, force=True)

    def container_of(self, ns: str | None, name: str | None, container: str | None = None) -> str | None:
        """The docker container of a pod's `container` (the API's `container` parameter), else its first."""
        key = f"{ns}/{name}"
        if container and container in self.sidecars.get(key, {}):
            return self.sidecars[key][container]
        return self.containers.get(key)

    # --- streams: logs, exec, port-forward ----------------------------------------------------

    async def serve_logs(
        self, raw: aiohttp.web.BaseRequest, ns: str | None, name: str | None
    ) -> aiohttp.web.StreamResponse:
        cid = self.container_of(ns, name, raw.query.get("container"))
        if cid is None:
            return status(400, "BadRequest", f'container is not running in pod "{name}"')
        query = raw.query
        kwargs: dict[str, Any] = {"stream": True, "follow": query.get("follow") == "true",
                                  "timestamps": query.get("timestamps") == "true"}  # fmt: skip
        if query.get("tailLines"):
            kwargs["tail"] = int(query["tailLines"])
        # One container instance's lines, as the kubelet keeps a log per instance: Docker restarts
        # the same container, so its runs are told apart by their start times.
        state = (await asyncio.to_thread(self.docker.api.inspect_container, cid))["State"]
        self.note_run(cid, state)  # a restart the kubelet's loop has not seen yet
        running = state.get("Running")
        starts = self.run_starts.get(cid) or [0.0]
        if query.get("previous") == "true" and running:
            if len(starts) < 2:
                container = query.get("container") or "?"
                return status(
                    400,
                    "BadRequest",
                    f'previous terminated container "{container}" in pod "{name}" not found',
                )
            kwargs["since"], kwargs["until"] = starts[-2], starts[-1]
            kwargs["follow"] = False
        else:
            kwargs["since"] = starts[-1]  # the current instance (or the one that just ended)
        if query.get("sinceTime"):
            wanted = datetime.fromisoformat(query["sinceTime"].replace("Z", "+00:00")).timestamp()
            kwargs["since"] = max(kwargs["since"], wanted)
        if not kwargs["since"]:
            del kwargs["since"]
        response = aiohttp.web.StreamResponse(headers={"Content-Type": "text/plain"})
        await response.prepare(raw)
        queue: asyncio.Queue[bytes | None] = asyncio.Queue()
        loop = asyncio.get_running_loop()
        stop = threading.Event()

        def pump() -> None:
            try:
                for chunk in self.docker.containers.get(cid).logs(**kwargs):
                    if stop.is_set():
                        return
                    loop.call_soon_threadsafe(queue.put_nowait, chunk)
            except Exception:
                pass
            finally:
                loop.call_soon_threadsafe(queue.put_nowait, None)

        threading.Thread(target=pump, daemon=True).start()
        self.log_streams[id(raw)] = raw
        try:
            while (chunk := await queue.get()) is not None:
                await response.write(chunk)
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            stop.set()
            self.log_streams.pop(id(raw), None)
        return response

    def cut_log_streams(self) -> int:
        """Drop every open log stream mid-flight, as an API server restart or a network blip does."""
        cut = 0
        for raw in list(self.log_streams.values()):
            if raw.transport is not None:
                raw.transport.close()
                cut += 1
        return cut

    async def serve_exec(
        self, raw: aiohttp.web.BaseRequest, ns: str | None, name: str | None
    ) -> aiohttp.web.StreamResponse:
        cid = self.container_of(ns, name, raw.query.get("container"))
        ws = aiohttp.web.WebSocketResponse(protocols=("v5.channel.k8s.io", "v4.channel.k8s.io"))
        await ws.prepare(raw)
        if cid is None:
            await ws.send_bytes(
                b"\x03" + json.dumps({"status": "Failure", "message": "pod not running"}).encode()
            )
            await ws.close()
            return ws
        command = raw.query.getall("command")
        want_stdin = raw.query.get("stdin") == "true"
        want_tty = raw.query.get("tty") == "true"
        exec_id = await asyncio.to_thread(
            self.docker.api.exec_create,
            cid,
            command,
            stdin=want_stdin,
            stdout=True,
            stderr=True,
            tty=want_tty,
        )
        sock = await asyncio.to_thread(self.docker.api.exec_start, exec_id["Id"], socket=True, tty=want_tty)
        raw_sock: socket.socket = sock._sock
        raw_sock.setblocking(True)
        loop = asyncio.get_running_loop()
        frames: asyncio.Queue[tuple[int, bytes] | None] = asyncio.Queue()

        def read_frames() -> None:
            """Docker's exec stream to (channel, bytes): raw with a TTY, else 8-byte-header frames."""
            buffer = b""
            while data := raw_sock.recv(65536):
                if want_tty:
                    loop.call_soon_threadsafe(frames.put_nowait, (1, data))
                    continue
                buffer += data
                while len(buffer) >= 8:
                    stream, size = buffer[0], struct.unpack(">I", buffer[4:8])[0]
                    if len(buffer) < 8 + size:
                        break
                    loop.call_soon_threadsafe(
                        frames.put_nowait, (1 if stream == 1 else 2, buffer[8 : 8 + size])
                    )
                    buffer = buffer[8 + size :]
            loop.call_soon_threadsafe(frames.put_nowait, None)

        async def relay_stdin() -> None:
            async for message in ws:
                if message.type != aiohttp.WSMsgType.BINARY:
                    return
                data = message.data
                if data[:1] == b"\x00":
                    await asyncio.to_thread(raw_sock.sendall, data[1:])
                elif data[:2] == b"\xff\x00" and ws.ws_protocol == "v5.channel.k8s.io":
                    raw_sock.shutdown(socket.SHUT_WR)  # the process sees stdin end

        reader = asyncio.ensure_future(asyncio.to_thread(read_frames))
        stdin_task = asyncio.ensure_future(relay_stdin()) if want_stdin else None
        runtime_error = b""
        while (frame := await frames.get()) is not None:  # output streams as it comes
            if frame[1].startswith(b"OCI runtime exec failed"):  # Docker's words for "could not start it"
                runtime_error += frame[1]
                continue
            await ws.send_bytes(bytes([frame[0]]) + frame[1])
        await reader
        if stdin_task is not None:
            stdin_task.cancel()
        code = (await asyncio.to_thread(self.docker.api.exec_inspect, exec_id["Id"]))["ExitCode"]
        raw_sock.close()
        if runtime_error:  # as the kubelet reports a CRI exec that never started: a Status, no exit code
            message = runtime_error.decode(errors="replace").strip()
            result: Obj = {"metadata": {}, "status": "Failure", "reason": "InternalError", "code": 500,
                           "message": "Internal error occurred: error executing command in container: "
                                      f"failed to exec in container: {message}",
                           "details": {"causes": [{"message": f"error executing command in container: {message}"}]}}  # fmt: skip
        elif code == 0:
            result = {"metadata": {}, "status": "Success"}
        else:
            result = {"metadata": {}, "status": "Failure", "reason": "NonZeroExitCode",
                      "message": f"command terminated with non-zero exit code: exit status {code}",
                      "details": {"causes": [{"reason": "ExitCode", "message": str(code)}]}}  # fmt: skip
        await ws.send_bytes(b"\x03" + json.dumps(result).encode())
        await ws.close()
        return ws

    async def serve_portforward(
        self, raw: aiohttp.web.BaseRequest, ns: str | None, name: str | None
    ) -> aiohttp.web.StreamResponse:
        # As the API server and kubelet: refused before the upgrade for a pod that is not there or
        # a port that is missing or not a port.
        if self.fetch("v1", "pods", ns, name or "") is None:
            return status(404, "NotFound", f'pods "{name}" not found')
        wanted = raw.query.get("ports", "")
        if not wanted.isdigit() or not 0 < int(wanted) < 65536:
            return status(400, "BadRequest", f"invalid port {wanted!r}: query parameter \"ports\" is required")
        cid = self.container_of(ns, name)
        port = int(wanted)
        ws = aiohttp.web.WebSocketResponse(protocols=("v4.channel.k8s.io", "portforward.k8s.io"))
        await ws.prepare(raw)
        prefix = struct.pack("<H", port)
        await ws.send_bytes(b"\x00" + prefix)  # each channel first carries the port it serves
        await ws.send_bytes(b"\x01" + prefix)
        host_port = None
        if cid is not None:
            if cid not in self.network:  # not synced yet: ask Docker once
                container = await asyncio.to_thread(self.docker.containers.get, cid)
                self.network[cid] = container.attrs["NetworkSettings"]
            bindings = (self.network[cid]["Ports"] or {}).get(f"{port}/tcp") or []
            host_port = int(bindings[0]["HostPort"]) if bindings else None
        try:
            if host_port is None:
                raise OSError(f"pod {name} has no port {port}")
            reader, writer = await asyncio.open_connection("127.0.0.1", host_port)
        except OSError as exc:
            await ws.send_bytes(b"\x01" + f"error forwarding port {port}: {exc}".encode())
            await ws.close()
            return ws

        async def upstream() -> None:
            async for message in ws:
                if message.type == aiohttp.WSMsgType.BINARY and message.data[:1] == b"\x00":
                    writer.write(message.data[1:])
                    await writer.drain()
            writer.close()

        async def downstream() -> None:
            while data := await reader.read(65536):
                await ws.send_bytes(b"\x00" + data)

        up = asyncio.ensure_future(upstream())
        with contextlib.suppress(OSError, ConnectionResetError):
            await downstream()
        up.cancel()
        writer.close()
        await ws.close()
        return ws

    # --- teardown -------------------------------------------------------------------------------

    def stop(self) -> None:
        for task in list(self.tasks):
            task.cancel()
        # One list call, then remove by id: a pod still terminating in the background may remove its
        # container first, and a per-container inspect (containers.list) would race with that.
        found = self.docker.api.containers(all=True, filters={"label": f"{KUBELET_LABEL}={self.cluster_id}"})
        for container in found:
            with contextlib.suppress(docker.errors.APIError):  # NotFound included: already gone
                self.docker.api.remove_container(container["Id"], force=True)
        volumes = self.docker.api.volumes(filters={"label": f"{KUBELET_LABEL}={self.cluster_id}"})
        for volume in volumes.get("Volumes") or []:
            with contextlib.suppress(docker.errors.APIError):
                self.docker.api.remove_volume(volume["Name"], force=True)
        self.docker.close()

    def running_containers(self) -> list[str]:
        """The pods whose containers run now (one list call: no per-container inspect to race with removal)."""
        found = self.docker.api.containers(filters={"label": f"{KUBELET_LABEL}={self.cluster_id}"})
        return [str((c.get("Labels") or {}).get(POD_LABEL)) for c in found]


@dataclasses.dataclass
class InjectedFault:
    method: str  # GET, PATCH, DELETE, or WATCH for a watch request
    path: re.Pattern[str]
    kind: str  # status | hang | cut
    status: int
    left: int
    hits: int = 0


class PodError(Exception):
    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class TLSServer(aiohttp.test_utils.RawTestServer):
    """kmock's server, serving HTTPS as an API server does."""

    async def start_server(self, loop: asyncio.AbstractEventLoop | None = None, **kwargs: Any) -> None:
        await super().start_server(loop=loop, ssl=kubetls.server_context(), **kwargs)


class FakeCluster:
    """The fake API server on its own thread and loop, with a kubeconfig pointing at it."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.kubeconfig = folder / "kubeconfig"
        self.loop = asyncio.new_event_loop()
        self.api: FakeKubernetes | None = None
        self.url = ""
        self._server: kmock.Server | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="fake-kube-api")

    def start(self) -> FakeCluster:
        self._thread.start()
        if not self._ready.wait(30):
            raise RuntimeError("the fake API server did not start")
        self.kubeconfig.write_text(self.kubeconfig_text())
        return self

    def kubeconfig_text(self, context: str = "kind-devloop") -> str:
        """As kind writes it: HTTPS, the cluster CA and the admin's client certificate as *-data."""
        c = kubetls.certs()

        def data(pem: bytes) -> str:
            return base64.b64encode(pem).decode()

        return yaml.safe_dump({
            "apiVersion": "v1", "kind": "Config", "current-context": context,
            "clusters": [{"name": context, "cluster": {"server": self.url, "certificate-authority-data": data(c.ca)}}],
            "contexts": [{"name": context, "context": {"cluster": context, "user": context}}],
            "users": [{"name": context, "user": {"client-certificate-data": data(c.client_cert),
                                                  "client-key-data": data(c.client_key)}}],
        })  # fmt: skip

    def client(self, **kwargs: Any) -> Any:
        """An httpx client that the fake trusts (the admin's certificate), for tests that call it directly."""
        import httpx

        return httpx.Client(base_url=self.url, verify=kubetls.client_context(), **kwargs)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)

        async def main() -> None:
            self.api = FakeKubernetes()
            self._server = kmock.Server(self.api, server_cls=TLSServer)
            await self._server.__aenter__()
            self.url = str(self._server.url).rstrip("/")
            self.api.start_controllers()
            self._ready.set()

        self.loop.run_until_complete(main())
        self.loop.run_forever()

    def call(self, fn: Any, *args: Any) -> Any:
        """Run `fn(*args)` on the server's loop (the fake's state lives there)."""

        async def wrapped() -> Any:
            return fn(*args)

        return asyncio.run_coroutine_threadsafe(wrapped(), self.loop).result(30)

    def stop(self) -> None:
        if self.api is not None:
            self.call(self.api.stop)

        async def shutdown() -> None:
            if self._server is not None:
                await self._server.__aexit__(None, None, None)

        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(shutdown(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
