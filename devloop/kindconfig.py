"""The kind cluster devloop creates, and the local registry wired to it. Pure: no I/O.

Follows kind's local-registry recipe (kind.sigs.k8s.io/docs/user/local-registry):
containerd reads registry mirrors from /etc/containerd/certs.d, each node gets
a hosts.toml sending `localhost:PORT` to the registry container on the kind
network, and the `local-registry-hosting` ConfigMap (KEP-1755) tells tools
where to push.
"""

from __future__ import annotations

from typing import Any

import yaml

REGISTRY_NAME = "devloop-registry"
REGISTRY_PORT = 5001  # on 127.0.0.1 of the host
REGISTRY_HOSTING_NAMESPACE = "kube-public"
REGISTRY_HOSTING_CONFIGMAP = "local-registry-hosting"
HTTP_HOST_PORT = 8080  # ingress traffic: 127.0.0.1:8080 -> node port 80
HTTPS_HOST_PORT = 8443


def cluster_config() -> str:
    """kind's Cluster config: API server and ingress ports on loopback only, registry mirrors on."""
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
                    {"containerPort": 80, "hostPort": HTTP_HOST_PORT, "listenAddress": "127.0.0.1"},
                    {"containerPort": 443, "hostPort": HTTPS_HOST_PORT, "listenAddress": "127.0.0.1"},
                ],
            }
        ],
    }
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
