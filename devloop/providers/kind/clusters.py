"""What runs behind a kubeconfig context (kind, k3d, minikube, Docker Desktop, ...), told from facts.

Pure rules (`detect`) over facts read once (the kubeconfig entry, the nodes, DOCKER_HOST),
so each rule has a table test. The rules are the ones Tilt
(`internal/k8s/clusterid`, `internal/docker/env.go`) and Skaffold (`config.IsKindCluster`,
`cluster.IsMinikube`) apply: the kubeconfig cluster's name prefix first, the context
name next, then where the kubeconfig or its CA file lives; whether the cluster runs the
local engine's images is Tilt's socket rule plus a node whose runtime is Docker.
"""

from __future__ import annotations

import os
import posixpath
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path
from typing import Any

import yaml


class ClusterType(StrEnum):
    KIND = "kind"
    K3D = "k3d"
    MINIKUBE = "minikube"
    DOCKER_DESKTOP = "docker-desktop"
    ORBSTACK = "orbstack"
    RANCHER_DESKTOP = "rancher-desktop"
    COLIMA = "colima"
    UNKNOWN = "unknown"


# Clusters that run on the developer's Docker engine itself: an image built there is already
# on the node when the engine is the one the cluster uses (and the node runs Docker).
ENGINE_SHARING = frozenset(
    {ClusterType.DOCKER_DESKTOP, ClusterType.ORBSTACK, ClusterType.RANCHER_DESKTOP, ClusterType.COLIMA}
)


@dataclass(frozen=True)
class ContextFacts:
    """What devloop can read about a context without changing anything."""

    context: str
    cluster: str = ""  # the context's `cluster:` entry name
    server: str = ""
    certificate_authority: str = ""  # the CA file's path, when the kubeconfig names one
    location: str = ""  # the kubeconfig file the context came from
    home: str = ""
    node_names: tuple[str, ...] = ()
    node_labels: Mapping[str, str] = field(default_factory=dict)  # the first node's
    container_runtimes: tuple[str, ...] = ()  # each node's status.nodeInfo.containerRuntimeVersion
    docker_host: str = ""  # DOCKER_HOST the engine is reached by ("" = the platform default)


@dataclass(frozen=True)
class Detected:
    type: ClusterType
    name: str  # kind/k3d cluster name, minikube or colima profile; the context otherwise
    shares_engine: bool  # the cluster's nodes see the local engine's images
    why: str  # the fact that decided, for `devloop doctor`


def _strip(value: str, prefix: str) -> str:
    return value[len(prefix):] if value.startswith(prefix) else value  # fmt: skip


def _by_name(name: str) -> tuple[ClusterType, str] | None:
    """Tilt's prefixes on a kubeconfig cluster (or context) name, and the name each tool gave."""
    if name.startswith("minikube"):
        return ClusterType.MINIKUBE, name
    if name.startswith(("docker-desktop", "docker-for-desktop")):
        return ClusterType.DOCKER_DESKTOP, name
    if name == "kind" or name.endswith("@kind"):  # kind before v0.6: NAME@kind
        return ClusterType.KIND, name.removesuffix("@kind") or "kind"
    if name.startswith("kind-"):
        return ClusterType.KIND, _strip(name, "kind-")
    if name.startswith("k3d-"):
        return ClusterType.K3D, _strip(name, "k3d-")
    if name.startswith("rancher-desktop"):
        return ClusterType.RANCHER_DESKTOP, name
    if name.startswith("colima"):
        return ClusterType.COLIMA, "default" if name == "colima" else _strip(name, "colima-")
    if name.startswith("orbstack"):
        return ClusterType.ORBSTACK, name
    return None


def _by_files_and_nodes(facts: ContextFacts) -> tuple[ClusterType, str, str] | None:
    """Where the kubeconfig and its CA live (Tilt, Skaffold), and the labels the tools put on nodes."""
    home = facts.home.rstrip("/")
    labels = facts.node_labels
    if labels.get("minikube.k8s.io/name"):
        return ClusterType.MINIKUBE, labels["minikube.k8s.io/name"], "node label minikube.k8s.io/name"
    if home and facts.certificate_authority.startswith(f"{home}/.minikube/"):
        return ClusterType.MINIKUBE, facts.context, "CA file under ~/.minikube"
    if home and facts.location.startswith(f"{home}/.config/k3d/"):
        return ClusterType.K3D, _strip(facts.context, "k3d-"), "kubeconfig under ~/.config/k3d"
    for node in facts.node_names:  # k3d-NAME-server-0, k3d-NAME-agent-1
        for role in ("-server-", "-agent-"):
            if node.startswith("k3d-") and role in node:
                return ClusterType.K3D, node[4:node.rindex(role)], f"node {node}"  # fmt: skip
    file = posixpath.basename(facts.location)
    if file.startswith("kind-config-"):  # kind before v0.6
        return ClusterType.KIND, _strip(file, "kind-config-"), f"kubeconfig file {file}"
    for node in facts.node_names:
        if node == "docker-desktop":
            return ClusterType.DOCKER_DESKTOP, facts.context, "node docker-desktop"
        if node == "orbstack":
            return ClusterType.ORBSTACK, facts.context, "node orbstack"
    return None


def detect(facts: ContextFacts) -> Detected:
    """The cluster type behind a context, its tool-side name, and whether it shares the engine."""
    found: tuple[ClusterType, str, str] | None = None
    for what, name in (("cluster", facts.cluster), ("context", facts.context)):
        hit = _by_name(name) if name else None
        if hit is not None:
            found = (hit[0], hit[1], f"{what} name {name}")
            break
    found = found or _by_files_and_nodes(facts)
    if found is None:
        return Detected(ClusterType.UNKNOWN, facts.context, False, "no rule matched")
    kind, name, why = found
    shares = kind in ENGINE_SHARING and _engine_is_the_clusters(kind, name, facts.docker_host)
    # Tilt also demands a Docker runtime on the node: Rancher Desktop in containerd mode, or
    # Docker Desktop's kind-based multi-node cluster, keep their images apart from the engine.
    # A pod may land on any node, so every node must run on it.
    if any(runtime and not runtime.startswith("docker://") for runtime in facts.container_runtimes):
        shares = False
    return Detected(kind, name, shares, why)


def _engine_is_the_clusters(kind: ClusterType, name: str, docker_host: str) -> bool:
    """Tilt's rule: the engine devloop builds on is the one that cluster runs on (by its socket)."""
    host = docker_host
    if kind in (ClusterType.DOCKER_DESKTOP, ClusterType.RANCHER_DESKTOP):
        return is_default_host(host)
    if kind is ClusterType.ORBSTACK:
        return host.startswith("unix://") and host.endswith("/.orbstack/run/docker.sock")
    if kind is ClusterType.COLIMA:
        return colima_profile(host) == name
    return False


def is_default_host(host: str) -> bool:
    """The engine addresses Docker Desktop and Rancher Desktop answer on (Tilt's `isDefaultHost`)."""
    if host in (
        "", "unix:///var/run/docker.sock", "npipe:////./pipe/docker_engine",
        "tcp://localhost:2375", "tcp://localhost:2376", "tcp://127.0.0.1:2375", "tcp://127.0.0.1:2376",
    ):  # fmt: skip
        return True
    if host.startswith("npipe:////./pipe/dockerDesktop"):
        return True
    unix_suffixes = ("/.docker/desktop/docker.sock", "/.docker/run/docker.sock", "/.rd/docker.sock")
    return host.startswith("unix://") and host.endswith(unix_suffixes)


def colima_profile(host: str) -> str:
    """The colima profile whose socket `host` is ("" when it is not colima's): ~/.colima/docker.sock
    and ~/.colima/default/docker.sock are `default`, ~/.colima-test/... and ~/.colima/test/... `test`."""
    for marker in ("/.colima", "/.config/colima"):
        if marker in host:
            rest = host.rsplit(marker, 1)[1]
            if rest.startswith("-"):
                return rest[1:].split("/")[0]
            parts = rest.split("/")
            return "default" if len(parts) < 3 else parts[1]
    return ""


def kubeconfig_facts(context: str | None, kubeconfig: Path | None = None) -> ContextFacts:
    """The context's entry in the kubeconfig files (KUBECONFIG's, else ~/.kube/config), as kubectl
    merges them: the first file naming a context or cluster wins."""
    home = str(Path.home())
    if kubeconfig is not None:
        paths = [kubeconfig]
    else:
        default = str(Path(home) / ".kube" / "config")
        paths = [Path(p) for p in os.environ.get("KUBECONFIG", default).split(os.pathsep) if p]
    current = ""
    contexts: dict[str, tuple[Mapping[str, object], Path]] = {}
    clusters: dict[str, Mapping[str, object]] = {}
    for path in paths:
        try:
            data = yaml.safe_load(path.read_text()) or {}
        except (OSError, yaml.YAMLError):
            continue
        if not isinstance(data, dict):
            continue
        current = current or str(data.get("current-context") or "")
        for entry in data.get("contexts") or []:
            if isinstance(entry, dict) and isinstance(entry.get("context"), dict):
                contexts.setdefault(str(entry.get("name")), (entry["context"], path))
        for entry in data.get("clusters") or []:
            if isinstance(entry, dict) and isinstance(entry.get("cluster"), dict):
                clusters.setdefault(str(entry.get("name")), entry["cluster"])
    name = context or current
    body, origin = contexts.get(name, ({}, Path("")))
    cluster_name = str(body.get("cluster") or "")
    cluster = clusters.get(cluster_name, {})
    return ContextFacts(
        context=name,
        cluster=cluster_name,
        server=str(cluster.get("server") or ""),
        certificate_authority=str(cluster.get("certificate-authority") or ""),
        location=str(origin) if name in contexts else "",
        home=home,
        docker_host=os.environ.get("DOCKER_HOST", ""),
    )


def with_nodes(facts: ContextFacts, nodes: list[Mapping[str, Any]]) -> ContextFacts:
    """`facts` plus what the node list says: names, the first node's labels, each one's runtime."""
    if not nodes:
        return facts

    def runtime(node: Mapping[str, Any]) -> str:
        info = (node.get("status") or {}).get("nodeInfo") or {}
        return str(info.get("containerRuntimeVersion") or "")

    return replace(
        facts,
        node_names=tuple(str((n.get("metadata") or {}).get("name") or "") for n in nodes),
        node_labels=dict((nodes[0].get("metadata") or {}).get("labels") or {}),
        container_runtimes=tuple(runtime(n) for n in nodes),
    )
