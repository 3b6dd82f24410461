"""A new version of an app on Docker: started beside the old one, checked for health, put behind the
app's router, and only then are the old containers drained and stopped; or, when only the instance
count changed (`cf scale -i`), the missing instances started and the extra ones stopped.

The health wait lives here too: a new instance that exits, is OOM-killed or never passes its check
fails the deploy with its reason and last lines, and the old version keeps serving.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from collections.abc import Callable

from devloop.adapters.dockerapi import ContainerInfo
from devloop.core import stages
from devloop.core.processes import WEB, process_types, process_view, sidecars_of
from devloop.core.spec import AppSpec, HealthCheckType, SidecarSpec
from devloop.errors import DockerRefusedError
from devloop.providers.base import Deployed, DeployError, Progress
from devloop.providers.docker.containers import STOP_TIMEOUT_S, Containers
from devloop.providers.docker.labels import (
    LABEL_CONFIG,
    LABEL_INDEX,
    address_of,
    as_process,
    backends_of,
    config_hash,
    instance_label,
    labels_of,
    process_of,
    sidecar_of,
    sidecars_among,
)
from devloop.providers.docker.rotation import HEALTH_POLL_S, Routing
from devloop.providers.shared import Background, drain_then
from devloop.router.health import check
from devloop.router.rotation import Backend
from devloop.router.router import Router

FIRST_POLL_S = 0.01  # the first second of a new instance's health wait: one local connect a poll
PROCESS_SETTLE_S = 0.5  # a `process` check passes once the process has stayed up this long
RESTART_POLICY = "unless-stopped"  # once healthy: Docker's backoff, like CrashLoopBackOff


class Rollout:
    """Deploys of one project's apps: each process type's instances, web's routed."""

    def __init__(
        self,
        containers: Containers,
        rotation: Routing,
        router: Router,
        background: Background,
        router_port: int,
    ) -> None:
        self._containers = containers
        self._call = containers.call
        self._rotation = rotation
        self.router = router
        self._background = background
        self._router_port = router_port  # the configured one, until the router listens

    async def deploy(self, app: AppSpec, image: str, progress: Progress) -> Deployed:
        """Web first, routed; then the other process types (cf `processes`) from the same image,
        unrouted; then the containers of process types the config no longer has are stopped."""
        with self._rotation.deploying(app.name):
            deployed = await self._deploy(app, image, progress)
            self._rotation.serve(app.name, config_hash(app, image, WEB, sidecars_of(app, WEB)))
        for process in process_types(app)[1:]:
            await self._deploy(app, image, progress, process)
        await self._retire_processes(app)
        return deployed

    async def _retire_processes(self, app: AppSpec) -> None:
        wanted = set(process_types(app))
        gone = [
            s.id for s in await self._call(self._containers.summaries, app) if process_of(s) not in wanted
        ]
        if gone:
            self._containers.retiring.update(gone)
            await self._call(self._containers.stop_and_remove, gone)

    async def _deploy(self, app: AppSpec, image: str, progress: Progress, process: str = WEB) -> Deployed:
        """Start `process`'s new instances (and their sidecars) beside the old ones, wait until they
        are healthy, route them (web only), then drain and stop the old ones."""
        web = process == WEB
        view = process_view(app, process)
        sidecars = sidecars_of(app, process)
        notice = await self.router.ensure(app) if web else None
        old = [s for s in await self._call(self._containers.summaries, app) if process_of(s) == process]
        config = config_hash(view, image, process, sidecars)
        current = [s for s in old if labels_of(s).get(LABEL_CONFIG) == config and s.status == "running"]
        mains = [s for s in current if not sidecar_of(s)]
        if len(mains) == view.instances and len(old) == len(current):
            progress(f"adopting {len(mains)} running instance(s) of {image}{as_process(process)}")
            adopted = [await self._call(self._containers.get, s.id) for s in mains]
            await self._wait_healthy(view, adopted, progress)
            if web:
                self._route(app, adopted)
            return Deployed(self.router.url(app) if web else None, notice)
        if mains and len(old) == len(current):
            await self._rescale(app, view, image, process, current, progress)
            return Deployed(self.router.url(app) if web else None, notice)
        progress(f"starting {view.instances} instance(s) of {image}{as_process(process)}")
        generation = secrets.token_hex(3)
        previous = self.router.backends(app.name)
        healthy: list[ContainerInfo] = []
        new: list[ContainerInfo] = []
        retired: list[Backend] = []

        def on_healthy(container: ContainerInfo) -> None:
            # The new version takes the traffic from its first healthy instance on;
            # the old instances leave rotation now, finish their requests, and are stopped below.
            healthy.append(container)
            stages.mark("healthy")
            if web:
                retired.extend(self._route(app, healthy))
                stages.mark("routed")

        async def start(index: int) -> ContainerInfo:
            return await self._start_tracked(new, view, image, index, generation, process, sidecars)

        rest: asyncio.Future[list[ContainerInfo]] | None = None
        try:
            if view.instances > 0:
                # Instance 0 first, alone on the engine and the CPU, so the new version serves
                # soonest; the others follow once it is healthy (cf's rolling deploy is serial).
                first = await start(0)
                stages.mark("started")
                await self._wait_healthy(view, [first], progress, on_healthy)
                rest = asyncio.gather(*(start(i) for i in range(1, view.instances)))
                await self._wait_healthy(view, list(await rest), progress, on_healthy)
            await self._keep_restarting(new)
        except BaseException:
            if web:
                self.router.set_backends(app.name, previous)
            if rest is not None:
                # Let starts already under way finish, so none of their containers is orphaned.
                await asyncio.gather(asyncio.shield(rest), return_exceptions=True)
            await self._call(self._containers.remove_now, list(new))
            raise
        if web:
            retired.extend(self._route(app, new))
        if old:
            progress(f"stopping {len(old)} old container(s){as_process(process)}")
            sidecars_first = sorted(old, key=lambda o: not sidecar_of(o))
            self._retire(retired, [o.id for o in sidecars_first])
        return Deployed(self.router.url(app) if web else None, notice)

    async def _start_tracked(
        self, new: list[ContainerInfo], view: AppSpec, image: str, index: int, generation: str, process: str,
        sidecars: tuple[SidecarSpec, ...],
    ) -> ContainerInfo:  # fmt: skip
        """Start one instance and record it in `new`. The engine call runs in a thread that a cancel
        (Ctrl-C) cannot stop: let it finish and record its container, so the caller's cleanup
        removes it instead of orphaning it."""
        port = self.router.port or self._router_port
        starting = asyncio.ensure_future(
            self._call(
                self._containers.start_instance, view, image, index, generation, port, process, sidecars
            )
        )
        try:
            container = await asyncio.shield(starting)
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):
                new.append(await starting)
            raise
        new.append(container)
        return container

    async def _keep_restarting(self, new: list[ContainerInfo]) -> None:
        """Healthy now: Docker restarts them (and their sidecars) from here on."""
        engine = self._containers.engine
        for container in new:
            for cid in (container.id, *self._containers.sidecar_ids.get(container.id, ())):
                try:
                    await self._call(engine.set_restart_policy, cid, RESTART_POLICY)
                except DockerRefusedError:
                    # It exited between its health check and now, and Docker updates no stopped
                    # container: start it again, as the platform would have, then keep it restarting.
                    await self._call(engine.start, cid)
                    await self._call(engine.set_restart_policy, cid, RESTART_POLICY)
        for container in new:  # later steps find its sidecars by label
            self._containers.sidecar_ids.pop(container.id, None)

    async def _rescale(
        self, app: AppSpec, view: AppSpec, image: str, process: str, current: list[ContainerInfo],
        progress: Progress,
    ) -> None:  # fmt: skip
        """`cf scale -i N`: start the missing instances or stop the extra ones; the others keep
        running untouched (same image and config: nothing about them changed)."""
        web = process == WEB
        mains = [s for s in current if not sidecar_of(s)]
        keep: dict[int, ContainerInfo] = {}
        for summary in sorted(mains, key=lambda s: int(labels_of(s).get(LABEL_INDEX, "0"))):
            index = int(labels_of(summary).get(LABEL_INDEX, "0"))
            if index < view.instances:
                keep.setdefault(index, summary)
        extra = [s for s in mains if s not in keep.values()]
        missing = [i for i in range(view.instances) if i not in keep]
        progress(f"scaling to {view.instances} instance(s){as_process(process)}: "
                 f"{len(keep)} keep running, {len(missing)} to start, {len(extra)} to stop")  # fmt: skip
        kept = [await self._call(self._containers.get, s.id) for s in keep.values()]
        generation = secrets.token_hex(3)
        new: list[ContainerInfo] = []
        sidecars = sidecars_of(app, process)
        try:
            for index in missing:
                await self._start_tracked(new, view, image, index, generation, process, sidecars)
            await self._wait_healthy(view, new, progress)
            await self._keep_restarting(new)
        except BaseException:
            await self._call(self._containers.remove_now, list(new))
            raise
        retired = self._route(app, [*kept, *new]) if web else []
        if extra:
            gone = sorted({s.id for s in extra})
            their_sidecars = [s.id for main in gone for s in sidecars_among(current, main)]
            self._retire(retired, their_sidecars + gone)

    def _retire(self, retired: list[Backend], ids: list[str]) -> None:
        """In-flight requests on the old instances finish first; then they get SIGTERM."""
        self._containers.retiring.update(ids)

        async def stop() -> None:
            await self._call(self._containers.stop_and_remove, ids)

        self._background.spawn(drain_then(self.router, retired, STOP_TIMEOUT_S, stop))

    def _route(self, app: AppSpec, containers: list[ContainerInfo]) -> list[Backend]:
        """Put exactly `containers` in the app's rotation; return the backends taken out."""
        return self.router.set_backends(app.name, backends_of(containers, app.port))

    async def _wait_healthy(
        self, app: AppSpec, containers: list[ContainerInfo], progress: Progress,
        on_healthy: Callable[[ContainerInfo], None] | None = None,
    ) -> None:  # fmt: skip
        began = time.monotonic()
        deadline = began + app.health.timeout_s
        pending = {c.id: c for c in containers}
        up_since: dict[str, float] = {}
        while pending:
            for cid in list(pending):
                before = pending[cid]
                ok = await self._answers(app, before)  # serving: no inspect needed to know it
                if not ok:
                    container = pending[cid] = await self._call(self._containers.get, cid)
                    if container.restarting or container.restart_count > 0 or not container.running:
                        if container.oom_killed:
                            reason = f"was killed for using more than {app.memory_mb}M of memory"
                        else:
                            reason = f"exited with code {container.exit_code}"
                        lines = await self._call(self._containers.last_lines, container)
                        raise DeployError(
                            f"{app.name}/{instance_label(container)} {reason} before becoming healthy", lines
                        )
                    now = time.monotonic()
                    up_since.setdefault(cid, now)
                    if app.health.type is HealthCheckType.PROCESS:
                        ok = now - up_since[cid] >= PROCESS_SETTLE_S
                    elif address_of(container, app.port) != address_of(before, app.port):
                        ok = await self._answers(app, container)  # published only now: try it there
                if ok:
                    container = pending.pop(cid)
                    if on_healthy is not None:
                        on_healthy(container)
            if not pending:
                return
            if time.monotonic() > deadline:
                container = next(iter(pending.values()))
                lines = await self._call(self._containers.last_lines, container)
                what = {
                    HealthCheckType.HTTP: f"http check GET {app.health.endpoint} on port {app.port}",
                    HealthCheckType.PORT: f"port check on {app.port}",
                    HealthCheckType.PROCESS: "process check",
                }[app.health.type]
                who = f"{app.name}{as_process(process_of(container))}"
                raise DeployError(f"{who}: {what} did not pass within {app.health.timeout_s}s", lines)
            # Most apps answer within a few hundred ms of their start: look often at first.
            await asyncio.sleep(FIRST_POLL_S if time.monotonic() - began < 1.0 else HEALTH_POLL_S)

    async def _answers(self, app: AppSpec, container: ContainerInfo) -> bool:
        """Whether the instance passes an http or port check at the address it started with
        (a container that exited cannot answer: restarts are off until it is healthy)."""
        if app.health.type is HealthCheckType.PROCESS:
            return False
        address = address_of(container, app.port)
        return address is not None and await check(app.health, *address)
