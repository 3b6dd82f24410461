"""`up --debug` on kind: the web pods' spec for their debugger, and a port-forward of each running
debugged pod's debug port behind its stable loopback port (providers.debugports).

The pod spec edit is pure (`debug_objects`): the wrapped command and the debugger's env come with
the app's debug view (core.debug), the image is the debug layer (build.debuglayer) delivered like
any other; here the container gets its debug port and loses its liveness probe, so a process held
at a breakpoint is not killed by the kubelet, and its readiness probe tolerates a long pause, so
the request held at the breakpoint is not cut (its pod stays in the router's rotation).
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Callable
from dataclasses import replace

from devloop.adapters.kube import Forward, KubeClient
from devloop.adapters.kubewire import Obj
from devloop.build import debuglayer
from devloop.core import debug
from devloop.core.events import InstancesChanged
from devloop.core.processes import WEB
from devloop.core.spec import AppSpec
from devloop.errors import ProviderError, UsageError
from devloop.providers.base import Progress
from devloop.providers.debugports import DebugPorts
from devloop.providers.kind.pods import process_of

ANNOTATION = "devloop.dev/debug"  # on a debugged pod template: its runtime
# Readiness checks a debugged pod may fail in a row and stay ready (held at a breakpoint): an
# unready pod leaves the router's rotation and its port-forward closes once drained, which would
# cut the very request being debugged.
PAUSE_CHECKS = 3600


def debug_objects(objects: list[Obj], app: str, runtime: debug.Runtime) -> list[Obj]:
    """The app's objects with its web Deployment's pods ready for `runtime`'s debugger."""
    out = []
    for obj in objects:
        if obj["kind"] == "Deployment" and process_of(obj) == WEB:
            obj = copy.deepcopy(obj)
            template = obj["spec"]["template"]
            meta = template.setdefault("metadata", {})
            meta["annotations"] = {**meta.get("annotations", {}), ANNOTATION: runtime.name}
            for container in template["spec"]["containers"]:
                if container["name"] != app:
                    continue  # a sidecar runs as it is
                container.pop("livenessProbe", None)
                if "readinessProbe" in container:  # ready once, then failures tolerated: paused, not gone
                    container["readinessProbe"]["failureThreshold"] = PAUSE_CHECKS
                ports = [p for p in container.get("ports") or [] if p.get("name") != "debug"]
                container["ports"] = [*ports, {"name": "debug", "containerPort": runtime.port}]
        out.append(obj)
    return out


def runtime_of_pod(pod: Obj) -> debug.Runtime | None:
    annotations = (pod.get("metadata") or {}).get("annotations") or {}
    return debug.RUNTIMES.get(annotations.get(ANNOTATION, ""))


class KindDebug:
    """The debug plans of one project's apps, and the port-forwards behind their stable ports."""

    def __init__(
        self, project_id: str, kube: Callable[[], KubeClient], pods: Callable[[str], list[Obj]]
    ) -> None:
        self._kube = kube  # the provider's client, connected when the pods are
        self._pods = pods  # an app's pods as the provider last saw them
        self.plans: dict[str, debug.DebugPlan] = {}
        self.ports = DebugPorts(project_id)
        self._forwards: dict[str, dict[str, Forward]] = {}  # app -> pod -> its debug port's forward

    async def prepare(self, app: AppSpec, image: str, progress: Progress) -> str:
        """The image to deliver for `app`: the debug layer on top of `image` for Python."""
        if not app.debug:
            self.plans.pop(app.name, None)
            return image
        config = await debuglayer.image_config(image)
        try:
            plan = debug.plan(app, debug.start_argv(app.command, config.entrypoint, config.cmd))
        except debug.DebugUnsupported as exc:
            raise UsageError(str(exc)) from None
        self.plans[app.name] = plan
        if plan.runtime in (debug.PYTHON, debug.GO):
            tool = f"debugpy {debuglayer.DEBUGPY_VERSION}" if plan.runtime is debug.PYTHON else "dlv"
            progress(f"adding {tool} to {image} (a debug layer of its own)")
        return await debuglayer.debug_image(plan.runtime, app.name, image, config.id)

    def view(self, app: AppSpec) -> AppSpec:
        """The app as its debugged pods run it (its plain self when not debugged)."""
        plan = self.plans.get(app.name)
        return debug.debug_app(app, plan) if plan is not None and app.debug else app

    def objects(self, app: AppSpec, objects: list[Obj]) -> list[Obj]:
        plan = self.plans.get(app.name)
        return debug_objects(objects, app.name, plan.runtime) if plan is not None and app.debug else objects

    async def announce(self, change: InstancesChanged, progress: Progress) -> None:
        """After a deploy: the debug ports followed, each new address said once."""
        await self.follow(change)
        for line in self.ports.said():
            progress(line)

    async def follow(self, change: InstancesChanged, forward_new: bool = True) -> InstancesChanged:
        """A port-forward to each running debugged web pod's debug port, behind its stable port
        (`forward_new` false: only those already open; a one-off look opens none)."""
        by_name = {p["metadata"]["name"]: p for p in self._pods(change.app)}
        if not any(runtime_of_pod(p) for p in by_name.values()) and not self._forwards.get(change.app):
            return await self.ports.follow(change, forward_new)  # nothing debugged: no API call
        forwards = self._forwards.setdefault(change.app, {})
        statuses = []
        for status in change.instances:
            pod = by_name.get(status.id)
            runtime = runtime_of_pod(pod) if pod is not None and status.is_web else None
            if pod is None or runtime is None or status.state != "running":
                statuses.append(status)
                continue
            forward = forwards.get(status.id)
            if forward is None and not forward_new:
                statuses.append(replace(status, debug=runtime.tool))
                continue
            if forward is None:
                try:
                    forward = await self._kube().port_forward(pod, runtime.port)
                    await forward.start()
                except (ProviderError, OSError):
                    statuses.append(status)  # the next change tries again
                    continue
                forwards[status.id] = forward
            at = f"127.0.0.1:{forward.local_port}"
            statuses.append(replace(status, debug=runtime.tool, debug_address=at))
        for gone in [p for p in forwards if p not in by_name]:
            with contextlib.suppress(Exception):
                await forwards.pop(gone).stop()
        return await self.ports.follow(InstancesChanged(change.app, tuple(statuses)), forward_new)

    async def close(self) -> None:
        for forward in [f for by_pod in self._forwards.values() for f in by_pod.values()]:
            with contextlib.suppress(Exception):
                await forward.stop()
        self._forwards.clear()
        await self.ports.close()

