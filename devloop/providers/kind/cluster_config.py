"""The kind cluster devloop creates, and the local registry wired to it. Pure: no I/O.

Follows kind's local-registry recipe (kind.sigs.k8s.io/docs/user/local-registry):
containerd reads registry mirrors from /etc/containerd/certs.d, each node gets
a hosts.toml sending `localhost:PORT` to the registry container on the kind
network, and the `local-registry-hosting` ConfigMap (KEP-1755) tells tools
where to push.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import yaml

REGISTRY_NAME = "devloop-registry"
REGISTRY_PORT = 5001  # on 127.0.0.1 of the host
REGISTRY_HOSTING_NAMESPACE = "kube-public"
REGISTRY_HOSTING_CONFIGMAP = "local-registry-hosting"
# Ingress traffic: 127.0.0.1:HTTP_HOST_PORT -> node port 80 (and 443). Not the router's 8080: both
# would want it. The provider moves them to free ports when these are taken (kind_ports).
HTTP_HOST_PORT = 8880
HTTPS_HOST_PORT = 8443
PORT_SEARCH = 100  # how far past a taken port the next free one is looked for


def kind_ports(router_port: int, is_free: Callable[[int], bool]) -> tuple[int, int]:
    """The ingress host ports for a new cluster: the defaults, else the next free ones; never the
    router's port. Raises ValueError when none is free (kind would fail "port is already allocated")."""
    chosen: list[int] = []
    for preferred in (HTTP_HOST_PORT, HTTPS_HOST_PORT):
        for port in range(preferred, preferred + PORT_SEARCH):
            if port != router_port and port not in chosen and is_free(port):
                chosen.append(port)
                break
        else:
            raise ValueError(f"no free port in 127.0.0.1:{preferred}-{preferred + PORT_SEARCH - 1}")
    return chosen[0], chosen[1]


def cluster_config(
    http_port: int = HTTP_HOST_PORT, https_port: int = HTTPS_HOST_PORT, node_image: str | None = None
) -> str:
    """kind's Cluster config: API server and ingress ports on loopback only, registry mirrors on;
    `node_image`: the node made from that image (a workshop archive's, by tag) instead of kind's default."""
    config: dict[str, Any] = {
        "kind": "Cluster",
        "apiVersion": "kind.x-k8s.io/v1alpha4",
        "networking": {"apiServerAddress": "127.0.0.1"},
        "containerdConfigPatches": [
            '[plugins."io.containerd.grpc.v1.cri".registry]\n  config_path = "/etc/containerd/certs.d"\n'
        ],
        "nodes": [
            {
                "role": "control-plane",
                "labels": {"ingress-ready": "true"},
                "extraPortMappings": [
                    {"containerPort": 80, "hostPort": http_port, "listenAddress": "127.0.0.1"},
                    {"containerPort": 443, "hostPort": https_port, "listenAddress": "127.0.0.1"},
                ],
            }
        ],
    }
    if node_image:
        config["nodes"][0]["image"] = node_image
    return yaml.safe_dump(config, sort_keys=False)


def registry_host() -> str:
    return f"localhost:{REGISTRY_PORT}"


def hosts_toml() -> str:
    """containerd's mirror config on each node: pulls of localhost:PORT go to the registry container."""
    return f'[host."http://{REGISTRY_NAME}:5000"]\n'


def registry_hosting(host: str) -> dict[str, Any]:
    """The KEP-1755 ConfigMap that says where images for this cluster are pushed."""
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": REGISTRY_HOSTING_CONFIGMAP, "namespace": REGISTRY_HOSTING_NAMESPACE},
        "data": {
            "localRegistryHosting.v1": yaml.safe_dump(
                {"host": host, "help": "https://kind.sigs.k8s.io/docs/user/local-registry/"}
            )
        },
    }


def pushed_registry(configmap: dict[str, Any] | None) -> str | None:
    """The registry to push to, from a cluster's `local-registry-hosting` ConfigMap (None if absent)."""
    if not configmap:
        return None
    raw = (configmap.get("data") or {}).get("localRegistryHosting.v1")
    if not raw:
        return None
    try:
        hosting = yaml.safe_load(raw)
    except yaml.YAMLError:
        return None
    host = hosting.get("host") if isinstance(hosting, dict) else None
    return str(host) if host else None
