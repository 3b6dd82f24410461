"""The router's way into pods: one port-forward per ready web pod of a routed app, kept current.

Each forward is one backend of the app's rotation; a pod that stops being
ready (or goes) leaves rotation at once, finishes its requests, and only then
has its forward closed.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

from devloop.adapters.kube import Forward
from devloop.adapters.kubewire import Obj
from devloop.core.processes import WEB
from devloop.core.spec import AppSpec
from devloop.providers.kind.cluster import Cluster
from devloop.providers.kind.pods import Indexes, pod_state, process_of, selector
from devloop.providers.shared import Background, drain_then
from devloop.router.router import Router

DRAIN_S = 10.0  # a pod leaving rotation gets this long to finish its requests (cf gives 10 s)


class Forwards:
    """The port-forwards behind the router, per app and pod, and the drains of those leaving."""

    def __init__(
        self, cluster: Cluster, router: Router, namespace: str, project: str, indexes: Indexes,
        known: Callable[[str], list[Obj]],
    ) -> None:  # fmt: skip
        self.cluster = cluster
        self.router = router
        self.namespace = namespace
        self.project = project  # the project's label value
        self.indexes = indexes  # shared with the instance statuses: a backend is named by its index
        self.known = known  # an app's pods as the provider last saw them
        self.by_app: dict[str, dict[str, Forward]] = {}  # app -> pod -> forward
        self._draining = Background()  # port-forwards of pods out of rotation, closed once drained

    def address(self, app: str, pod: str) -> tuple[str, int] | None:
        """The router's address of the pod's forward, if it has one."""
        forward = self.by_app.get(app, {}).get(pod)
        return ("127.0.0.1", forward.local_port) if forward is not None else None

    async def refresh(self, app: AppSpec, pods: list[Obj] | None = None) -> None:
        """One port-forward per ready web pod of `app`, each in the app's rotation."""
        if app.name not in self.router.apps:
            return
        kube = self.cluster.kube
        if pods is None:
            listing = await kube.list_objects("v1", "pods", self.namespace, selector(self.project, app.name))
            pods = listing.get("items") or []
        ready = {
            p["metadata"]["name"]: p for p in pods if process_of(p) == WEB and pod_state(p, app.name).ready
        }
        forwards = self.by_app.setdefault(app.name, {})
        leaving = {name: forwards.pop(name) for name in [n for n in forwards if n not in ready]}
        for name, pod in ready.items():
            if name not in forwards:
                forward = await kube.port_forward(pod, app.port)
                await forward.start()
                forwards[name] = forward
        live = {p["metadata"]["name"] for p in self.known(app.name)} | set(ready)
        retired = self.router.set_backends(
            app.name,
            [
                ("127.0.0.1", f.local_port, str(self.indexes.index(app.name, n, live)))
                for n, f in forwards.items()
            ],
        )
        if leaving:
            # Pods leaving rotation finish their requests before their port-forwards close.
            stopping = list(leaving.values())
            self._draining.spawn(
                drain_then(self.router, retired, DRAIN_S, lambda: self._stop_forwards(stopping))
            )

    @staticmethod
    async def _stop_forwards(forwards: list[Forward]) -> None:
        for forward in forwards:
            with contextlib.suppress(Exception):
                await forward.stop()

    async def close(self) -> None:
        """Every forward stopped, every drain cancelled."""
        for forwards in self.by_app.values():
            for forward in forwards.values():
                with contextlib.suppress(Exception):
                    await forward.stop()
        self.by_app.clear()
        await self._draining.cancel()
