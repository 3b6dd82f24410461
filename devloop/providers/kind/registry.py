"""kind's local registry: the recipe devloop wires into the clusters it creates.

Sets up kind's local-registry recipe for a cluster devloop creates (a
`registry:2` container on 127.0.0.1, joined to the `kind` network, a containerd
hosts.toml on every node pointing `localhost:PORT` at it): knowledge of kind's
layout, so it lives here rather than in the generic registry adapter.
"""

from __future__ import annotations

import asyncio
import io
import tarfile

from devloop.adapters import dockersdk
from devloop.adapters.dockerapi import ContainerSpec, DockerEngine, PortBinding
from devloop.adapters.images import ensure_image
from devloop.adapters.kindcli import KindCli
from devloop.adapters.kube import KubeClient
from devloop.adapters.kubewire import Obj
from devloop.core.pull import PullPolicy
from devloop.errors import DockerNotFoundError, ProviderError
from devloop.providers.base import Progress
from devloop.providers.kind import cluster_config

REGISTRY_IMAGE = "registry:2"
KIND_NETWORK = "kind"


async def wire_registry(kube: KubeClient, kind: KindCli, cluster: str, progress: Progress) -> None:
    """A new kind cluster's local registry running and announced (its ConfigMap); `kind load`
    is the fallback when the registry cannot start."""
    nodes = await kind.nodes(cluster)
    try:
        engine = dockersdk.open_engine()
        await asyncio.to_thread(ensure_kind_registry, engine, nodes, progress)
    except Exception as exc:  # no registry image, say: `kind load` still delivers
        why = str(exc)
        progress(f"no local registry ({why}); images go in with `kind load docker-image`")
        return
    await kube.apply(cluster_config.registry_hosting(cluster_config.registry_host()), None)


def ensure_kind_registry(engine: DockerEngine, nodes: list[str], progress: Progress) -> None:
    """The local-registry recipe for kind: registry container, kind network, hosts.toml per node."""
    name = cluster_config.REGISTRY_NAME
    # The cheap checks first: no registry is started (or pulled) for nodes that are not there.
    try:
        engine.network_members(KIND_NETWORK)
        node_ids = [engine.container(node).id for node in nodes]
    except DockerNotFoundError as exc:
        raise ProviderError(
            f"the kind nodes or their `{KIND_NETWORK}` network are not on this engine: {exc}"
        ) from None
    try:
        status = engine.container(name).status
    except DockerNotFoundError:
        progress(f"starting the local registry {name} on 127.0.0.1:{cluster_config.REGISTRY_PORT}")
        ensure_image(engine, REGISTRY_IMAGE, PullPolicy.MISSING, lambda _line: None)  # as `docker run` pulls
        engine.create_container(ContainerSpec(
            image=REGISTRY_IMAGE,
            name=name,
            restart_policy="always",
            ports=(PortBinding(5000, cluster_config.REGISTRY_PORT),),  # loopback only
            environment={"REGISTRY_STORAGE_DELETE_ENABLED": "true"},  # `devloop prune` deletes old tags
        ))  # fmt: skip
        status = "created"
    if status != "running":
        engine.start(name)
    if name not in engine.network_members(KIND_NETWORK):
        engine.connect_network(KIND_NETWORK, name)
    folder = f"etc/containerd/certs.d/{cluster_config.registry_host()}"
    archive = _tar({f"{folder}/hosts.toml": cluster_config.hosts_toml().encode()})
    for node in node_ids:
        engine.put_archive(node, "/", archive)


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
