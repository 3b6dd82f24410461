"""The docker provider: each instance is a container on the local Docker engine.

This is the Provider the engine drives; the work is done by the modules beside it: `containers`
(start, find, remove), `rollout` (a new version beside the old, the health wait), `rotation`
(which containers the router sends requests to), `stream` (events and logs), `sync` (files and
restarts in place) and `services` (backing services).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import replace

from devloop.adapters.dockerapi import ContainerInfo, DockerEngine, engine_address
from devloop.adapters.images import ensure_image_off_loop
from devloop.core import debug
from devloop.core.changes import SyncCopy
from devloop.core.events import InstancesChanged, InstanceStatus
from devloop.core.logbuffer import LogLine
from devloop.core.processes import process_types, process_view
from devloop.core.removal import Removed
from devloop.core.services import ServiceSpec, binding_env
from devloop.core.spec import AppSpec, HealthCheckType, ProjectSpec, TaskSpec
from devloop.errors import DevloopError, UsageError
from devloop.providers.base import Deployed, Progress, TaskOutput
from devloop.providers.debugports import DebugPorts
from devloop.providers.docker.containers import Containers, exec_argv
from devloop.providers.docker.labels import LABEL_CONFIG, backends_of, labels_of, sidecar_of
from devloop.providers.docker.rollout import Rollout
from devloop.providers.docker.rotation import Routing
from devloop.providers.docker.sandboxes import is_sandbox, sandbox_labels
from devloop.providers.docker.services import LABEL_SERVICE, DockerServices
from devloop.providers.docker.stream import app_events, log_lines
from devloop.providers.docker.sync import InPlace
from devloop.providers.docker.tasks import current_image, is_task, run_task, task_labels
from devloop.providers.shared import Background, bound_services, project_id, shell_argv
from devloop.router.router import Router


class DockerProvider:
    name = "docker"

    def __init__(
        self, project: ProjectSpec, engine: DockerEngine | None = None, *, router: Router | None = None
    ) -> None:
        self.project = project
        self.project_id = project_id(project.file)
        self.router = router or Router(project.router_port)  # devloop.cli.context hands in the one it built
        self.containers = Containers(self.project_id, engine)
        self._call = self.containers.call
        self.services = DockerServices(
            lambda: self.containers.engine, self.project_id, self.network, self._call
        )
        self._background = Background()  # drains of old versions, health admissions
        self._refills = Background()  # sandboxes parked for the next deploys (sandboxes.py)
        self._refilled = False
        self.rotation = Routing(self.router, self._background)
        self.rollout = Rollout(
            self.containers, self.rotation, self.router, self._background, project.router_port
        )
        self.in_place = InPlace(self.containers, self.rotation, self.router, self._observe)
        self.debug_ports = DebugPorts(self.project_id)

    @property
    def engine(self) -> DockerEngine:
        return self.containers.engine

    @property
    def network(self) -> str:
        return self.containers.network

    # --- platform -------------------------------------------------------------------------------

    async def ensure_platform(self, progress: Progress) -> str:
        progress(f"connecting to the Docker engine at {engine_address()}")
        version = await self._call(lambda: self.engine.version())
        await self._call(self.containers.ensure_network)
        return f"docker {version.version} ({engine_address()})"

    async def deliver(self, app: AppSpec, image: str, progress: Progress) -> str:
        """Built on this very engine; a prebuilt `image:` is pulled when missing (or always)."""
        if app.build is None:
            await ensure_image_off_loop(self.engine, image, app.pull, progress)
        return image

    # --- deploy ---------------------------------------------------------------------------------

    async def _bind(self, app: AppSpec, progress: Progress) -> AppSpec:
        """The app with its services' credentials in its secret env (VCAP_SERVICES, DATABASE_URL,
        ...), once each service is ready: an app never starts before what it is bound to."""
        if not app.services:
            return app
        await self._call(self.containers.ensure_network)
        bound = [(s, await self.services.ensure(s, progress)) for s in bound_services(self.project, app)]
        env = binding_env(bound)
        kept = tuple((k, v) for k, v in app.secret_env if k not in env)
        return replace(app, secret_env=(*kept, *env.items()))

    async def deploy(self, app: AppSpec, image: str, progress: Progress) -> Deployed:
        bound = await self._bind(app, progress)
        if not app.debug:
            self.containers.debug.pop(app.name, None)
            deployed = await self.rollout.deploy(bound, image, progress)
        else:
            view, image = await self._debug_view(bound, image, progress)
            deployed = await self.rollout.deploy(view, image, progress)
            await self._observe(app)
            for line in self.debug_ports.said():
                progress(line)
        if app.sync:  # the new instances' sync agents, off the save's path
            self._background.spawn(self._warm(app))
        for process in process_types(app):  # the next deploy's sandboxes, off the save's path too
            self._refilled = True
            self._refills.spawn(self._refill(process_view(app, process), image, process))
        return deployed

    async def _refill(self, view: AppSpec, image: str, process: str) -> None:
        with contextlib.suppress(Exception):  # only a head start: a deploy without one still starts
            await self._call(self.containers.refill_sandboxes, view, image, process)

    async def _warm(self, app: AppSpec) -> None:
        with contextlib.suppress(Exception):  # only a head start: a sync starts its agent itself
            await self.in_place.warm(app)

    async def _debug_view(self, app: AppSpec, image: str, progress: Progress) -> tuple[AppSpec, str]:
        """The app as its instances run under the debugger, and the image they run (the debug
        layer on top of the app's for Python)."""
        from devloop.build import debuglayer  # only under `up --debug`

        config = await debuglayer.image_config(image)
        argv = debug.start_argv(app.command, config.entrypoint, config.cmd)
        try:
            plan = debug.plan(app, argv)
        except debug.DebugUnsupported as exc:
            raise UsageError(str(exc)) from None
        if plan.runtime in (debug.PYTHON, debug.GO):
            tool = f"debugpy {debuglayer.DEBUGPY_VERSION}" if plan.runtime is debug.PYTHON else "dlv"
            progress(f"adding {tool} to {image} (a debug layer of its own)")
        image = await debuglayer.debug_image(plan.runtime, app.name, image, config.id)
        self.containers.debug[app.name] = plan.runtime
        return debug.debug_app(app, plan), image

    # --- instances and logs ---------------------------------------------------------------------

    def snapshot(self, app: AppSpec) -> tuple[InstancesChanged, list[ContainerInfo] | None]:
        """The app's instances, and the containers that should serve (None: leave routing alone)."""
        generation = self.rotation.generation(app.name)
        serving = self.rotation.serving_config(app.name)
        containers = self.containers.rejoin_sidecars(self.containers.inspect(app))
        statuses = [self.containers.status(c, app) for c in containers]
        current = [
            c
            for c in containers
            if c.status == "running"
            and c.id not in self.containers.retiring
            and labels_of(c).get(LABEL_CONFIG) == serving
            and not sidecar_of(c)
        ]
        follow = self.rotation.follows(app.name, generation, bool(current))
        return InstancesChanged(app.name, tuple(statuses)), (current if follow else None)

    async def _observe(self, app: AppSpec, open_debug: bool = True) -> InstancesChanged:
        """A snapshot, the router and the stable debug ports following it (rotation.py says how)."""
        change, current = await self._call(self.snapshot, app)
        if current is not None:
            self.rotation.follow(app, backends_of(current, app.port))
        return await self.debug_ports.follow(change, open_debug)

    async def instances(self, app: AppSpec) -> InstancesChanged:
        return await self._observe(app, open_debug=False)  # a one-off look opens no debug port

    async def watch_instances(self, apps: list[AppSpec]) -> AsyncIterator[InstancesChanged]:
        by_name = {a.name: a for a in apps}
        for app in apps:
            yield await self._observe(app)
        monitors = [
            asyncio.create_task(self.rotation.monitor(app))
            for app in apps
            if app.health.type is not HealthCheckType.PROCESS and not app.no_route
        ]
        try:
            async with contextlib.aclosing(
                app_events(lambda: self.engine, self.containers.labels())
            ) as events:
                async for names in events:
                    for name in names:
                        if name in by_name:
                            yield await self._observe(by_name[name])
        finally:
            for monitor in monitors:
                monitor.cancel()

    def tail(
        self, instance: InstanceStatus, since_ns: int | None, *, follow: bool = True, last: int | None = None
    ) -> AsyncIterator[LogLine]:
        return log_lines(lambda: self.engine, instance, since_ns, follow, last)

    # --- sync, restart, exec --------------------------------------------------------------------

    async def sync(self, app: AppSpec, copies: tuple[SyncCopy, ...]) -> int:
        return await self.in_place.sync(app, copies)

    async def restart(self, app: AppSpec, progress: Progress) -> int:
        return await self.in_place.restart(app, progress)

    def shell_argv(self, instance: InstanceStatus, command: str | None = None, tty: bool = True) -> list[str]:
        return exec_argv(instance.id, shell_argv(command), tty)

    async def instance_env(self, instance: InstanceStatus) -> list[str]:
        """The environment the instance's container runs with (`NAME=value`), for `devloop env`."""
        container = await self._call(self.containers.get, instance.id)
        return list(container.env)

    # --- tasks (cf run-task) ---------------------------------------------------------------------

    async def current_image(self, app: AppSpec) -> str | None:
        return await self._call(current_image, self.containers, app)

    async def run_task(
        self, app: AppSpec, image: str, task: TaskSpec, output: TaskOutput, progress: Progress
    ) -> int:
        return await run_task(self.containers, self._bind, app, image, task, output, progress,
                              self.project.router_port)  # fmt: skip

    # --- backing services: the cf service commands -----------------------------------------------

    async def service_states(self) -> dict[str, str]:
        return await self._call(self.services.states)

    async def service_password(self, service: ServiceSpec) -> str | None:
        return self.services.password(service, create=False)

    def service_shell_argv(self, service: ServiceSpec, args: tuple[str, ...], tty: bool) -> list[str]:
        """The service's own client (psql, redis-cli) inside its container, as `devloop ssh` does."""
        return exec_argv(self.services.container_name(service), [*service.type.shell_command, *args], tty)

    # --- teardown -------------------------------------------------------------------------------

    async def remove(self, apps: list[AppSpec] | None, purge: bool = False) -> Removed:
        self.containers.sandboxes.hold()  # a refill under way makes nothing the removal misses
        try:
            await self._refills.finish()
            return await self._remove(apps, purge)
        finally:
            self.containers.sandboxes.resume()

    async def _remove(self, apps: list[AppSpec] | None, purge: bool) -> Removed:
        targets = []
        services: tuple[str, ...] = ()
        volumes: tuple[str, ...] = ()
        if apps is None:
            summaries = await self._call(self.containers.summaries, None)
            targets = [t for t in summaries if LABEL_SERVICE not in labels_of(t)]
            targets += await self._call(self.engine.containers, sandbox_labels(self.project_id))
            # The whole project goes: its services too (their data stays unless `purge`).
            services, volumes = await self._call(self.services.remove, purge)
        else:
            for app in apps:  # its instances and, as cf deletes an app's tasks with it, its tasks
                targets += await self._call(self.containers.summaries, app)
                targets += await self._call(self.engine.containers, task_labels(self.project_id, app.name))
                targets += await self._call(self.engine.containers, sandbox_labels(self.project_id, app.name))
        # Sidecars before the instances whose network they join, sandboxes after theirs.
        targets.sort(key=lambda t: 0 if sidecar_of(t) else 2 if is_sandbox(t) else 1)
        await self._call(self.containers.remove_ids, [t.id for t in targets])
        if not await self._call(self.containers.summaries, None):
            # The project's last instance went: no empty network stays.
            await self._call(self.containers.remove_network)
        # A sidecar is part of its instance, and so is a sandbox; a task is none.
        instances = [t for t in targets if not (sidecar_of(t) or is_task(labels_of(t)) or is_sandbox(t))]
        return Removed(len(instances), services, volumes)

    async def close(self) -> None:
        await self.debug_ports.close()
        await self.router.close()
        self.rotation.stop_admitting()
        await self._background.finish()
        if self._refilled:  # this process parked them for its next deploys: none is left behind
            self.containers.sandboxes.hold()
            await self._refills.finish()
            with contextlib.suppress(DevloopError):
                await self._call(self.containers.sandboxes.remove_parked, self.engine)
        self.in_place.close()
        self.containers.close()


__all__ = ["DockerProvider"]
