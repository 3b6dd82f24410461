"""Backing services on the kind provider: one StatefulSet each, its password in a Secret.

The counterpart of the docker provider's `services`: a service is applied and
waited for before the apps bound to it deploy; its credentials Secret keeps the
password across runs (and `devloop down` without --purge), so a restarted
service still opens the data it wrote.
"""

from __future__ import annotations

import asyncio
import base64
import time

from devloop.core.services import ServiceSpec, new_password
from devloop.errors import DeployError, ProviderError, ToolMissingError
from devloop.providers.base import Progress
from devloop.providers.kind.cluster import Cluster
from devloop.providers.kind.pods import selector
from devloop.providers.kind.rollout import POLL_S, Rollouts
from devloop.providers.kind.service_objects import service_objects


class Services:
    """The project's backing services in its namespace; passwords remembered once a service is ready."""

    def __init__(self, cluster: Cluster, rollouts: Rollouts, namespace: str, project: str) -> None:
        self.cluster = cluster
        self.rollouts = rollouts
        self.namespace = namespace
        self.project = project  # the project's label value
        self._passwords: dict[str, str] = {}

    async def ensure(self, service: ServiceSpec, progress: Progress) -> str:
        """The service's StatefulSet applied and ready; its password (kept in its Secret)."""
        if service.name in self._passwords:
            return self._passwords[service.name]
        kube = self.cluster.kube
        secret = await kube.get("v1", f"secrets/{service.name}-credentials", self.namespace)
        saved = ((secret or {}).get("data") or {}).get(service.type.password_variable)
        password = base64.b64decode(saved).decode() if saved else new_password()
        progress(f"applying service {service.name} ({service.type.name}, {service.image})")
        objects = service_objects(service, password, self.project, self.namespace)
        await self.rollouts.apply(service.name, objects)
        deadline = time.monotonic() + service.ready_timeout_s
        while True:
            sts = await kube.get("apps/v1", f"statefulsets/{service.name}", self.namespace)
            if int(((sts or {}).get("status") or {}).get("readyReplicas") or 0) >= 1:
                break
            if time.monotonic() > deadline:
                lines = await self.rollouts.log_tail(f"{service.name}-0", service.name)
                raise DeployError(
                    f"service {service.name} ({service.type.name}) was not ready within "
                    f"{service.ready_timeout_s}s; the apps bound to it are held back",
                    lines,
                )
            await asyncio.sleep(POLL_S)  # the StatefulSet's status, polled as rollouts are
        progress(f"service {service.name} is ready")
        self._passwords[service.name] = password
        return password

    async def states(self) -> dict[str, str]:
        """Service name -> `running` (its pod is ready) or `starting`; none without a cluster."""
        try:
            await self.cluster.connect(lambda _text: None, create=False)
        except (ProviderError, ToolMissingError):
            return {}
        listing = await self.cluster.kube.list_objects(
            "apps/v1", "statefulsets", self.namespace, selector(self.project)
        )
        return {
            sts["metadata"]["name"]: "running"
            if int((sts.get("status") or {}).get("readyReplicas") or 0) >= 1
            else "starting"
            for sts in listing.get("items") or []
        }

    async def password(self, service: ServiceSpec) -> str | None:
        """The password kept in the service's credentials Secret (made by the first deploy)."""
        if not await self.states():
            return None
        secret = await self.cluster.kube.get("v1", f"secrets/{service.name}-credentials", self.namespace)
        saved = ((secret or {}).get("data") or {}).get(service.type.password_variable)
        return base64.b64decode(saved).decode() if saved else None
