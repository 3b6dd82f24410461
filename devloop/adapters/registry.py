"""Image delivery to a cluster through a registry: push a content tag, only new layers travel.

Also sets up the registry of kind's local-registry recipe for a cluster devloop
creates: a `registry:2` container on 127.0.0.1, joined to the `kind` network,
and a containerd hosts.toml on every node that points `localhost:PORT` at it.
"""

from __future__ import annotations

import asyncio
import io
import tarfile
from collections.abc import Callable
from typing import Any

import docker.errors

from devloop.adapters.dockerapi import CONNECTION_ERRORS, describe
from devloop.errors import DockerUnavailableError, ProviderError
from devloop.providers.kind import cluster_config

REGISTRY_IMAGE = "registry:2"
KIND_NETWORK = "kind"
Progress = Callable[[str], None]


def registry_reference(registry: str, image: str) -> str:
    """`devloop/web:abc` pushed to `localhost:5001` is `localhost:5001/devloop/web:abc`."""
    return f"{registry.rstrip('/')}/{image}"


async def push(client: Any, image: str, registry: str, progress: Progress) -> str:
    """Tag `image` into `registry` and push it; the registry already has unchanged layers."""
    target = registry_reference(registry, image)
    repository, _, tag = target.rpartition(":")

    def run() -> None:
        client.images.get(image).tag(repository, tag)
        pushed = 0
        for event in client.api.push(repository, tag=tag, stream=True, decode=True):
            if "error" in event:
                raise ProviderError(f"pushing {target} failed: {event['error']}")
            if event.get("status") == "Pushed":
                pushed += 1
        progress(f"pushed {target} ({pushed} new layer(s))")

    try:
        await asyncio.to_thread(run)
    except docker.errors.APIError as exc:
        raise ProviderError(f"pushing {target} failed: {exc.explanation or exc}") from None
    except CONNECTION_ERRORS as exc:
        raise DockerUnavailableError(f"the Docker engine is not answering: {describe(exc)}") from None
    return target


def ensure_kind_registry(client: Any, nodes: list[str], progress: Progress) -> None:
    """The local-registry recipe for kind: registry container, kind network, hosts.toml per node."""
    name = cluster_config.REGISTRY_NAME
    # The cheap checks first: no registry is started (or pulled) for nodes that are not there.
    try:
        network = client.networks.get(KIND_NETWORK)
        node_containers = [client.containers.get(node) for node in nodes]
    except docker.errors.NotFound as exc:
        raise ProviderError(
            f"the kind nodes or their `{KIND_NETWORK}` network are not on this engine: {exc.explanation}"
        ) from None
    try:
        container = client.containers.get(name)
    except docker.errors.NotFound:
        progress(f"starting the local registry {name} on 127.0.0.1:{cluster_config.REGISTRY_PORT}")
        container = client.containers.run(
            REGISTRY_IMAGE,
            name=name,
            detach=True,
            restart_policy={"Name": "always"},
            ports={"5000/tcp": ("127.0.0.1", cluster_config.REGISTRY_PORT)},
        )
    if container.status != "running":
        container.start()
    network.reload()
    if name not in {c.name for c in network.containers}:
        network.connect(container)
    folder = f"etc/containerd/certs.d/{cluster_config.registry_host()}"
    archive = _tar({f"{folder}/hosts.toml": cluster_config.hosts_toml().encode()})
    for node in node_containers:
        node.put_archive("/", archive)


def _tar(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        folders: set[str] = set()
        for path in files:
            parts = path.split("/")[:-1]
            for depth in range(1, len(parts) + 1):
                folders.add("/".join(parts[:depth]))
        for folder in sorted(folders):
            info = tarfile.TarInfo(folder)
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            tar.addfile(info)
        for path, data in files.items():
            info = tarfile.TarInfo(path)
            info.size, info.mode = len(data), 0o644
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()
