"""Which image stores devloop can reach for a project: always the local engine; for the kind
provider also the cluster's local registry (when its container runs) and each node of the cluster."""

from __future__ import annotations

import asyncio

from devloop.adapters import dockersdk
from devloop.adapters.kindcli import KindCli
from devloop.core.spec import ProjectSpec, ProviderKind
from devloop.errors import DevloopError
from devloop.images.nodestore import NodeStore
from devloop.images.registrystore import RegistryStore
from devloop.images.stores import EngineStore, Store
from devloop.providers.kind import cluster_config

REGISTRY_CONFIG = "/etc/docker/registry/config.yml"  # where the registry image keeps its config


def collect_registry_garbage() -> None:
    """`registry garbage-collect` in devloop's registry container: deleted manifests' blobs leave the disk."""
    engine = dockersdk.open_engine()
    try:
        argv = ["registry", "garbage-collect", REGISTRY_CONFIG]
        done = engine.exec_output(cluster_config.REGISTRY_NAME, argv)
        if done.exit_code != 0:
            said = done.output.decode(errors="replace").strip()[-200:]
            raise DevloopError(said or f"`registry garbage-collect` exited {done.exit_code}")
    finally:
        engine.close()


def _registry_runs() -> bool:
    try:
        engine = dockersdk.open_engine()
    except DevloopError:
        return False
    try:
        return engine.container(cluster_config.REGISTRY_NAME).status == "running"
    except DevloopError:
        return False
    finally:
        engine.close()


async def reachable_stores(project: ProjectSpec) -> list[Store]:
    stores: list[Store] = [EngineStore(dockersdk.open_engine)]
    if project.provider is not ProviderKind.KIND or project.context is not None:
        return stores
    apps = [app.name for app in project.apps]
    if await asyncio.to_thread(_registry_runs):
        host = cluster_config.registry_host()
        stores.append(RegistryStore(host, apps=apps, after_delete=collect_registry_garbage))
    try:
        kind = KindCli.find()
        if project.cluster in await kind.clusters():
            stores += [NodeStore(node) for node in await kind.nodes(project.cluster)]
    except DevloopError:
        pass  # no kind, or no cluster yet: no nodes to prune
    return stores
