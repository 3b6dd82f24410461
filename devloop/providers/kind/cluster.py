"""The cluster devloop talks to: a kubeconfig context, or the kind cluster it creates or reuses.

Owns the one API client of a provider: the kind CLI's checks, the generated
cluster config (its ingress ports checked free), the cached kubeconfig, node
readiness, and which way images travel (the registry the cluster announces).
"""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import os
import re
import socket
import time
from pathlib import Path

from devloop.adapters.kindcli import KindCli
from devloop.adapters.kube import KubeClient
from devloop.core.shared_cluster import developer_namespace, is_local_context
from devloop.core.spec import ProjectSpec
from devloop.errors import ProviderError, ToolMissingError
from devloop.fs import write_private
from devloop.images.archive import recorded_node_image
from devloop.providers.base import Progress
from devloop.providers.kind import cluster_config
from devloop.providers.kind.clusters import ClusterType, Detected, detect, kubeconfig_facts, with_nodes
from devloop.providers.kind.delivery import Delivery
from devloop.providers.kind.pods import node_ready
from devloop.providers.kind.registry import wire_registry
from devloop.providers.shared import project_id

NODE_READY_S = 180.0  # a new kind node is Ready within a minute on a laptop
CREATE_ATTEMPTS = 3
PORT_TAKEN = "port is already allocated"  # Docker's words when kind's node cannot bind a port


def namespace_for(project: ProjectSpec) -> str:
    """One namespace per project folder: two projects with an app `web` never meet. On a shared
    cluster (a context no local distribution named) one per developer and project too,
    `devloop-<user>-<project>`; `namespace:` in devloop.yaml names it outright."""
    if project.namespace:
        return project.namespace
    if not is_local_context(project.context):
        return developer_namespace(developer(), project.file.resolve().parent.name)
    cleaned = re.sub(r"[^a-z0-9-]", "-", project_id(project.file).lower()).strip("-")
    return f"devloop-{cleaned}"[:63].rstrip("-")


def developer() -> str:
    """Who runs devloop: $USER, else the login name the system knows."""
    try:
        return os.environ.get("USER") or getpass.getuser()
    except (KeyError, OSError):  # no such user in /etc/passwd (a container's arbitrary UID)
        return f"uid{os.getuid()}"


def kubeconfig_cache() -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "devloop" / "kube"


class Cluster:
    """One project's cluster: connected once, then shared by the provider's parts."""

    def __init__(self, project: ProjectSpec, context: str | None) -> None:
        self.project = project
        self.context = context
        self.kubeconfig: Path | None = None  # the kind cluster's; None: the user's kubeconfig
        self.kind: KindCli | None = None  # set when devloop drives a kind cluster (no --context)
        self.registry: str | None = None  # where images are pushed, if the cluster announces one
        self._delivery: Delivery | None = None  # how images reach the nodes, once the type is known
        self._kube: KubeClient | None = None

    @property
    def kube(self) -> KubeClient:
        if self._kube is None:
            raise ProviderError("not connected to a cluster yet")
        return self._kube

    @property
    def connected(self) -> bool:
        return self._kube is not None

    async def connect_if_any(self) -> bool:
        """Connected, never creating a cluster; False when there is none (or no kind to ask)."""
        with contextlib.suppress(ToolMissingError, ProviderError):
            await self.connect(lambda _text: None, create=False)
        return self.connected

    async def connect(self, progress: Progress, create: bool = True) -> KubeClient:
        """The API client for the cluster: a kubeconfig context, or the kind cluster (made if missing)."""
        if self._kube is not None:
            return self._kube
        created = False
        if self.context:
            progress(f"using kubeconfig context {self.context}")
            kube = await KubeClient.connect(None, self.context)
        else:
            kind = self.kind = KindCli.find()
            await kind.version()
            name = self.project.cluster
            if name not in await kind.clusters():
                if not create:
                    raise ProviderError(f"there is no kind cluster {name}", hint="`devloop up` creates it")
                progress(f"creating kind cluster {name} (this takes a minute the first time)")
                await self._create(kind, name, progress)
                created = True
            else:
                progress(f"reusing kind cluster {name}")
            self.kubeconfig = await self._kind_kubeconfig(kind, name)
            kube = await KubeClient.connect(self.kubeconfig, None)
        self._kube = kube
        if created:
            assert self.kind is not None
            await wire_registry(self.kube, self.kind, self.project.cluster, progress)
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
            waiting = [n["metadata"]["name"] for n in listing.get("items") or [] if not node_ready(n)]
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
                        if kind in ("ADDED", "MODIFIED") and node_ready(node):
                            break

    async def _create(self, kind: KindCli, name: str, progress: Progress) -> None:
        """`kind create cluster` with ports checked free; once more with others when one was taken
        between the check and kind's bind (another devloop, or any program, got there first)."""
        for attempt in range(CREATE_ATTEMPTS):
            config = write_private(kubeconfig_cache() / f"{name}-kind.yaml", self._cluster_config(progress))
            try:
                await kind.create(name, config, on_line=lambda line: progress(f"kind: {line.strip()}"))
                return
            except ProviderError as exc:
                if PORT_TAKEN not in str(exc) or attempt == CREATE_ATTEMPTS - 1:
                    raise
                progress("a port of the new cluster was taken meanwhile; trying again with free ones")

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
        node_image = recorded_node_image()  # `devloop unpack` brought one: kind cannot pull its default
        if node_image:
            progress(f"the cluster's node is made from {node_image} (from `devloop unpack`)")
        return cluster_config.cluster_config(http, https, node_image)

    async def _kind_kubeconfig(self, kind: KindCli, name: str) -> Path:
        text = await kind.kubeconfig(name)
        return write_private(kubeconfig_cache() / f"{name}.yaml", text)  # it holds client keys

    async def ensure_platform(self, progress: Progress, namespace: str) -> str:
        """Connected, the API server ready, the registry read, `namespace` there; a one-line description."""
        kube = await self.connect(progress)
        info = await kube.wait_ready(on_kind=self.kind is not None)
        hosting = await kube.get(
            "v1",
            f"configmaps/{cluster_config.REGISTRY_HOSTING_CONFIGMAP}",
            cluster_config.REGISTRY_HOSTING_NAMESPACE,
        )
        self.registry = self.project.registry or cluster_config.pushed_registry(hosting)
        await self._ensure_namespace(kube, namespace)
        delivery = await self.delivery()
        if self.context:
            found = delivery.detected
            where = f"context {self.context}, {found.type} cluster {found.name}"
        else:
            where = f"kind cluster {self.project.cluster}"
        version, way = info.get("gitVersion", "?"), delivery.describe(self.registry)
        return f"kubernetes {version} ({where}, namespace {namespace}, images via {way})"

    async def delivery(self) -> Delivery:
        """How images reach this cluster's nodes: told once from the kubeconfig entry and the nodes."""
        if self._delivery is None:
            self._delivery = Delivery(await self.detect(), self.context, self.kind)
        return self._delivery

    async def detect(self) -> Detected:
        """What runs behind the context (kind, k3d, minikube, Docker Desktop, ...)."""
        if not self.context:
            return Detected(ClusterType.KIND, self.project.cluster, False, "the kind cluster devloop runs")
        facts = kubeconfig_facts(self.context, self.kubeconfig)
        with contextlib.suppress(ProviderError):  # a user who may not list nodes: the names decide
            listing = await self.kube.list_objects("v1", "nodes", None, "")
            facts = with_nodes(facts, list(listing.get("items") or []))
        return detect(facts)

    @staticmethod
    async def _ensure_namespace(kube: KubeClient, namespace: str) -> None:
        """The namespace there: made when missing. One that exists is left alone, as a shared
        cluster's admin may have made it for a developer who may not patch namespaces."""
        existing = None
        with contextlib.suppress(ProviderError):  # may not even read it: try to make it
            existing = await kube.get("v1", f"namespaces/{namespace}")
        if existing is None:
            await kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}, None)

    async def delete(self) -> None:
        """The kind cluster deleted (`devloop down --cluster`)."""
        kind = self.kind or KindCli.find()
        await kind.delete(self.project.cluster)

    async def close(self) -> None:
        if self._kube is not None:
            await self._kube.close()


def _port_is_free(port: int) -> bool:
    """Whether 127.0.0.1:`port` can be bound now (as kind's node container will bind it)."""
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True
