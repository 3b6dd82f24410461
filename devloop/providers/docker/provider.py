"""The docker provider: each instance is a container on the local Docker engine.

Containers carry labels (project, app, index, image) so devloop finds its own,
and only its own, again after a restart. A new version is started beside the
old one, checked for health, put behind the app's loopback forwarder, and only
then are the old containers stopped. Ports are published on 127.0.0.1 only.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import secrets
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from typing import Any

import docker
import docker.errors

from devloop.adapters.dockerapi import CONNECTION_ERRORS, describe, engine_address
from devloop.adapters.images import ensure_image_off_loop
from devloop.core import cfenv
from devloop.core.changes import SyncCopy
from devloop.core.events import InstancesChanged, InstanceStatus
from devloop.core.logbuffer import LogLine
from devloop.core.logformat import parse_rfc3339_ns
from devloop.core.processes import WEB, main_memory_mb, process_name, process_types, process_view, sidecars_of
from devloop.core.removal import Removed
from devloop.core.routes import internal_hosts
from devloop.core.services import ServiceSpec, binding_env
from devloop.core.spec import AppSpec, HealthCheckType, ProjectSpec, SidecarSpec
from devloop.errors import DockerUnavailableError
from devloop.providers.base import Deployed, DeployError, Progress
from devloop.providers.docker.services import LABEL_SERVICE, DockerServices
from devloop.providers.shared import project_id
from devloop.providers.synctar import sync_archive
from devloop.router.health import check
from devloop.router.rotation import Backend
from devloop.router.router import Router

LABEL_PROJECT = "devloop.project"
LABEL_APP = "devloop.app"
LABEL_INDEX = "devloop.index"
LABEL_IMAGE = "devloop.image"
LABEL_CONFIG = "devloop.config"  # hash of everything that shapes the container, for adoption
LABEL_PROCESS = "devloop.process"  # the cf process type it runs (web, worker, ...)
LABEL_SIDECAR = "devloop.sidecar"  # set on a sidecar: its name; it shares its instance's network
STOP_TIMEOUT_S = 10  # Cloud Foundry gives an app 10 s to stop after SIGTERM
HEALTH_POLL_S = 0.025  # a fresh instance is polled often: it usually answers within 100 ms
MONITOR_MIN_S = 5  # steady-state checks at most this often: each one shows in the app's own log
PROCESS_SETTLE_S = 0.5  # a `process` check passes once the process has stayed up this long
RESTART_POLICY = {"Name": "unless-stopped"}  # once healthy: Docker's backoff, like CrashLoopBackOff


def config_hash(app: AppSpec, image: str, process: str = WEB, sidecars: tuple[SidecarSpec, ...] = ()) -> str:
    """Containers started from the same image, command, env, memory, port and sidecars are
    interchangeable."""
    shape = {
        "image": image,
        "command": app.command,
        "env": sorted(app.env),
        "secret_env": hashlib.sha256(json.dumps(sorted(app.secret_env)).encode()).hexdigest(),
        "memory_mb": app.memory_mb,
        "port": app.port,
        **({"process": process} if process != WEB else {}),
        **({"sidecars": [[s.name, s.command, s.memory_mb] for s in sidecars]} if sidecars else {}),
    }
    return hashlib.sha256(json.dumps(shape, sort_keys=True).encode()).hexdigest()[:16]


def _engine_error(exc: BaseException) -> DockerUnavailableError:
    return DockerUnavailableError(
        f"the Docker engine at {engine_address()} is not answering: {describe(exc)}"
    )


class DockerProvider:
    name = "docker"

    def __init__(
        self, project: ProjectSpec, client: Any | None = None, *, router: Router | None = None
    ) -> None:
        self.project = project
        self.project_id = project_id(project.file)
        self._client = client
        self.router = router or Router(project.router_port)  # devloop.cli.context hands in the one it built
        self.services = DockerServices(lambda: self.client, self.project_id, self.network, self._call)
        self._holding: set[str] = set()  # apps devloop is restarting: never routed to nothing meanwhile
        self._admitting: set[tuple[str, int]] = set()  # restarted instances waiting for their health check
        self._live: dict[str, set[tuple[str, int]]] = {}  # app -> addresses of its serving containers
        self._sick: dict[str, dict[tuple[str, int], str]] = {}  # app -> failing its health check
        self._stopping: set[asyncio.Task[None]] = set()
        self._retiring: set[str] = set()  # containers devloop is stopping on purpose
        self._restarting: set[str] = set()  # containers `devloop restart` is restarting: no crash
        self._deploying: set[str] = set()  # apps whose routing a deploy is changing
        self._serving_config: dict[str, str] = {}  # app -> config hash of the version it serves
        self._route_generation: dict[str, int] = {}  # bumped by deploys, so stale snapshots do not route
        self._sidecar_ids: dict[str, list[str]] = {}  # instances a deploy is starting -> their sidecars

    # --- plumbing -------------------------------------------------------------------------------

    @property
    def client(self) -> Any:
        if self._client is None:
            try:
                self._client = docker.from_env(timeout=30, max_pool_size=64)
            except CONNECTION_ERRORS as exc:
                raise _engine_error(exc) from None
        return self._client

    async def _call(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return await asyncio.to_thread(fn, *args, **kwargs)
        except docker.errors.APIError:
            raise
        except CONNECTION_ERRORS as exc:
            raise _engine_error(exc) from None

    def _labels(self, app: AppSpec | None = None) -> list[str]:
        labels = [f"{LABEL_PROJECT}={self.project_id}"]
        if app is not None:
            labels.append(f"{LABEL_APP}={app.name}")
        return labels

    def _containers(self, app: AppSpec | None = None, all_states: bool = True) -> list[Any]:
        """Full container objects: one inspect per container. Not for hot paths."""
        return list(self.client.containers.list(all=all_states, filters={"label": self._labels(app)}))

    def _summaries(self, app: AppSpec | None = None) -> list[dict[str, Any]]:
        """Id, Labels, State and Ports of each container in one call (the list endpoint)."""
        return list(self.client.api.containers(all=True, filters={"label": self._labels(app)}))

    # --- platform -------------------------------------------------------------------------------

    async def ensure_platform(self, progress: Progress) -> str:
        progress(f"connecting to the Docker engine at {engine_address()}")
        version = await self._call(lambda: self.client.version())
        await self._call(self._ensure_network)
        return f"docker {version.get('Version', '?')} ({engine_address()})"

    @property
    def network(self) -> str:
        return f"devloop-{self.project_id}"

    def _ensure_network(self) -> None:
        """One network per project: apps reach each other by name (web -> redis:6379)."""
        if not self.client.api.networks(names=[self.network]):
            self.client.api.create_network(
                self.network, driver="bridge", labels={LABEL_PROJECT: self.project_id}
            )

    async def deliver(self, app: AppSpec, image: str, progress: Progress) -> str:
        """Built on this very engine; a prebuilt `image:` is pulled when missing (or always)."""
        if app.build is None:
            await ensure_image_off_loop(self.client, image, app.pull, progress)
        return image

    # --- deploy ---------------------------------------------------------------------------------

    async def _bind(self, app: AppSpec, progress: Progress) -> AppSpec:
        """The app with its services' credentials in its secret env (VCAP_SERVICES, DATABASE_URL,
        ...), once each service is ready: an app never starts before what it is bound to."""
        if not app.services:
            return app
        await self._call(self._ensure_network)
        bound = []
        for name in app.services:
            try:
                service = self.project.service(name)
            except KeyError:
                raise DeployError(f"{app.name} binds service {name!r}, which is not defined") from None
            bound.append((service, await self.services.ensure(service, progress)))
        env = binding_env(bound)
        kept = tuple((k, v) for k, v in app.secret_env if k not in env)
        return replace(app, secret_env=(*kept, *env.items()))

    async def deploy(self, app: AppSpec, image: str, progress: Progress) -> Deployed:
        app = await self._bind(app, progress)
        self._deploying.add(app.name)
        self._bump(app.name)
        try:
            deployed = await self._deploy(app, image, progress)
            self._serving_config[app.name] = config_hash(app, image, WEB, sidecars_of(app, WEB))
        finally:
            self._deploying.discard(app.name)
            self._bump(app.name)
        # The other process types (cf `processes`) from the same image, unrouted, after web.
        for process in process_types(app)[1:]:
            await self._deploy(app, image, progress, process)
        await self._retire_processes(app)
        return deployed

    async def _retire_processes(self, app: AppSpec) -> None:
        """Stop the containers of process types the config no longer has."""
        wanted = set(process_types(app))
        gone = [s["Id"] for s in await self._call(self._summaries, app) if _process_of(s) not in wanted]
        if gone:
            self._retiring.update(gone)
            await self._call(self._stop_and_remove, gone)

    def _bump(self, app: str) -> None:
        self._route_generation[app] = self._route_generation.get(app, 0) + 1

    async def _deploy(self, app: AppSpec, image: str, progress: Progress, process: str = WEB) -> Deployed:
        """Start `process`'s new instances (and their sidecars) beside the old ones, wait until they
        are healthy, route them (web only), then drain and stop the old ones."""
        web = process == WEB
        view = process_view(app, process)
        sidecars = sidecars_of(app, process)
        notice = await self.router.ensure(app) if web else None
        old = [s for s in await self._call(self._summaries, app) if _process_of(s) == process]
        config = config_hash(view, image, process, sidecars)
        current = [
            s for s in old if (s.get("Labels") or {}).get(LABEL_CONFIG) == config and s["State"] == "running"
        ]
        mains = [s for s in current if not _sidecar_of(s)]
        if len(mains) == view.instances and len(old) == len(current):
            progress(f"adopting {len(mains)} running instance(s) of {image}{_as(process)}")
            adopted = [await self._call(self.client.containers.get, s["Id"]) for s in mains]
            await self._wait_healthy(view, adopted, progress)
            if web:
                self._route(app, adopted)
            return Deployed(self.router.url(app) if web else None, notice)
        if mains and len(old) == len(current):
            await self._rescale(app, view, image, process, current, progress)
            return Deployed(self.router.url(app) if web else None, notice)
        progress(f"starting {view.instances} instance(s) of {image}{_as(process)}")
        generation = secrets.token_hex(3)
        previous = self.router.backends(app.name)
        healthy: list[Any] = []
        new: list[Any] = []
        retired: list[Backend] = []

        def on_healthy(container: Any) -> None:
            # The new version takes the traffic from its first healthy instance on;
            # the old instances leave rotation now, finish their requests, and are stopped below.
            healthy.append(container)
            if web:
                retired.extend(self._route(app, healthy))

        async def start(index: int) -> Any:
            return await self._start_tracked(new, view, image, index, generation, process, sidecars)

        rest: asyncio.Future[list[Any]] | None = None
        try:
            if view.instances > 0:
                # Instance 0 first, alone on the engine and the CPU, so the new version serves
                # soonest; the others follow once it is healthy (cf's rolling deploy is serial).
                first = await start(0)
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
            await self._call(self._remove_now, list(new))
            raise
        if web:
            retired.extend(self._route(app, new))
        if old:
            progress(f"stopping {len(old)} old container(s){_as(process)}")
            ids = [o["Id"] for o in sorted(old, key=lambda o: not _sidecar_of(o))]  # sidecars first
            self._retiring.update(ids)
            task = asyncio.create_task(self._drain_and_stop(retired, ids))
            self._stopping.add(task)
            task.add_done_callback(self._stopping.discard)
        return Deployed(self.router.url(app) if web else None, notice)

    async def _start_tracked(
        self, new: list[Any], view: AppSpec, image: str, index: int, generation: str, process: str,
        sidecars: tuple[SidecarSpec, ...],
    ) -> Any:  # fmt: skip
        """Start one instance and record it in `new`. The engine call runs in a thread that a cancel
        (Ctrl-C) cannot stop: let it finish and record its container, so the caller's cleanup
        removes it instead of orphaning it."""
        starting = asyncio.ensure_future(
            self._call(self._start_instance, view, image, index, generation, process, sidecars)
        )
        try:
            container = await asyncio.shield(starting)
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):
                new.append(await starting)
            raise
        new.append(container)
        return container

    async def _keep_restarting(self, new: list[Any]) -> None:
        """Healthy now: Docker restarts them (and their sidecars) from here on."""
        for container in new:
            for cid in (container.id, *self._sidecar_ids.get(container.id, ())):
                await self._call(self.client.api.update_container, cid, restart_policy=RESTART_POLICY)
        for container in new:
            self._sidecar_ids.pop(container.id, None)  # kept: later steps find its sidecars by label

    async def _rescale(
        self, app: AppSpec, view: AppSpec, image: str, process: str, current: list[dict[str, Any]],
        progress: Progress,
    ) -> None:  # fmt: skip
        """`cf scale -i N`: start the missing instances or stop the extra ones; the others keep
        running untouched (same image and config: nothing about them changed)."""
        web = process == WEB
        mains = [s for s in current if not _sidecar_of(s)]
        keep: dict[int, dict[str, Any]] = {}
        for summary in sorted(mains, key=lambda s: int(_labels_of(s).get(LABEL_INDEX, "0"))):
            index = int(_labels_of(summary).get(LABEL_INDEX, "0"))
            if index < view.instances:
                keep.setdefault(index, summary)
        extra = [s for s in mains if s not in keep.values()]
        missing = [i for i in range(view.instances) if i not in keep]
        progress(f"scaling to {view.instances} instance(s){_as(process)}: "
                 f"{len(keep)} keep running, {len(missing)} to start, {len(extra)} to stop")  # fmt: skip
        kept = [await self._call(self.client.containers.get, s["Id"]) for s in keep.values()]
        generation = secrets.token_hex(3)
        new: list[Any] = []
        sidecars = sidecars_of(app, process)
        try:
            for index in missing:
                await self._start_tracked(new, view, image, index, generation, process, sidecars)
            await self._wait_healthy(view, new, progress)
            await self._keep_restarting(new)
        except BaseException:
            await self._call(self._remove_now, list(new))
            raise
        retired = self._route(app, [*kept, *new]) if web else []
        if extra:
            gone = {s["Id"] for s in extra}
            ids = [s["Id"] for main in sorted(gone) for s in _sidecars_of(current, main)] + sorted(gone)
            self._retiring.update(ids)
            task = asyncio.create_task(self._drain_and_stop(retired, ids))
            self._stopping.add(task)
            task.add_done_callback(self._stopping.discard)

    async def _drain_and_stop(self, retired: list[Backend], ids: list[str]) -> None:
        """In-flight requests on the old instances finish first; then they get SIGTERM."""
        await self.router.drain(retired, STOP_TIMEOUT_S)
        await self._call(self._stop_and_remove, ids)

    def _route(self, app: AppSpec, containers: list[Any]) -> list[Backend]:
        """Put exactly `containers` in the app's rotation; return the backends taken out."""
        addresses = []
        for container in containers:
            address = self._address(container, app)
            if address is not None:
                addresses.append((*address, container.labels.get(LABEL_INDEX, "?")))
        return self.router.set_backends(app.name, addresses)

    def _address(self, container: Any, app: AppSpec) -> tuple[str, int] | None:
        ports = (container.attrs.get("NetworkSettings") or {}).get("Ports") or {}
        bindings = ports.get(f"{app.port}/tcp") or []
        for binding in bindings:
            if binding.get("HostIp") in ("127.0.0.1", "") and binding.get("HostPort"):
                return "127.0.0.1", int(binding["HostPort"])
        return None

    def _start_instance(self, app: AppSpec, image: str, index: int, generation: str, process: str = WEB,
                        sidecars: tuple[SidecarSpec, ...] = ()) -> Any:  # fmt: skip
        """One instance of `process` (`app` is its view) and its sidecars, which share its network
        namespace as containers in a pod do: they reach each other on 127.0.0.1."""
        # What Cloud Foundry sets wins over the app's own env, as cf reserves PORT and VCAP_*.
        # Docker picks the instance's address when it starts, after its env is fixed: 127.0.0.1
        # is an address of the instance's own network namespace (shared with its sidecars).
        system = cfenv.instance_env(
            app, project=self.project_id, process=process, index=index, generation=generation,
            image=image, router_port=self.router.port or self.project.router_port, ip="127.0.0.1",
            started_at=time.time(),
        )  # fmt: skip
        env = {**cfenv.unbound_services(app), **dict(app.env), **dict(app.secret_env), **system}
        # The web process is published for the router; another only for a port or http check.
        published = process == WEB or app.health.type is not HealthCheckType.PROCESS
        api = self.client.api
        self._ensure_network()
        host_config = api.create_host_config(
            network_mode=self.network,
            port_bindings={f"{app.port}/tcp": ("127.0.0.1", None)} if published else None,  # loopback only
            # No restarts until healthy, so a crash at start keeps its exit code and output;
            # `unless-stopped` (Docker's backoff, like CrashLoopBackOff) once it serves.
            restart_policy={"Name": "no"},
            init=True,
            security_opt=["no-new-privileges"],  # setuid binaries cannot raise the app's privileges
            mem_limit=f"{memory}m" if (memory := main_memory_mb(app.memory_mb, sidecars)) else None,
        )
        name = f"devloop-{app.name}-{generation}-{index}"
        if process != WEB:
            name = f"devloop-{app.name}-{process}-{generation}-{index}"
        labels = {
            LABEL_PROJECT: self.project_id,
            LABEL_APP: app.name,
            LABEL_INDEX: str(index),
            LABEL_IMAGE: image,
            LABEL_CONFIG: config_hash(app, image, process, sidecars),
            LABEL_PROCESS: process,
        }
        created = api.create_container(
            image,
            name=name,
            environment=env,
            labels=labels,
            ports=[app.port] if published else None,
            host_config=host_config,
            networking_config=api.create_networking_config(
                {self.network: api.create_endpoint_config(aliases=self._aliases(app, process))}
            ),
            entrypoint=["/bin/sh", "-c", app.command] if app.command else None,
            command=[] if app.command else None,
            detach=True,
        )
        main = created["Id"]
        started: list[str] = []
        try:
            api.start(main)
            for sidecar in sidecars:
                sidecar_config = api.create_host_config(
                    network_mode=f"container:{main}",
                    restart_policy={"Name": "no"},
                    init=True,
                    security_opt=["no-new-privileges"],
                    mem_limit=f"{sidecar.memory_mb}m" if sidecar.memory_mb else None,
                )
                one = api.create_container(
                    image,
                    name=f"{name}-{sidecar.name}",
                    environment=env,
                    labels={**labels, LABEL_SIDECAR: sidecar.name},
                    host_config=sidecar_config,
                    entrypoint=["/bin/sh", "-c", sidecar.command],
                    command=[],
                    detach=True,
                )
                started.append(one["Id"])
                api.start(one["Id"])
        except BaseException:
            self._remove_ids([*started, main])
            raise
        self._sidecar_ids[main] = started
        return self.client.containers.get(main)  # one inspect: ports are known now

    def _aliases(self, app: AppSpec, process: str) -> list[str]:
        """Names other containers of the project reach this one by: its process name, and for web
        its cf internal routes (`api.apps.internal`), served on the app's own port."""
        internal = list(internal_hosts(app)) if process == WEB else []
        return [process_name(app.name, process), *internal]

    async def _wait_healthy(
        self,
        app: AppSpec,
        containers: list[Any],
        progress: Progress,
        on_healthy: Callable[[Any], None] | None = None,
    ) -> None:
        deadline = time.monotonic() + app.health.timeout_s
        pending = {c.id: c for c in containers}
        up_since: dict[str, float] = {}
        while pending:
            for cid, container in list(pending.items()):
                await self._call(container.reload)
                state = container.attrs.get("State") or {}
                index = _label(container)
                if (
                    state.get("Restarting")
                    or container.attrs.get("RestartCount", 0) > 0
                    or not state.get("Running")
                ):
                    if state.get("OOMKilled"):
                        reason = f"was killed for using more than {app.memory_mb}M of memory"
                    else:
                        reason = f"exited with code {state.get('ExitCode')}"
                    lines = await self._call(self._last_lines, container)
                    raise DeployError(f"{app.name}/{index} {reason} before becoming healthy", lines)
                address = self._address(container, app)
                host, port = address if address else ("127.0.0.1", None)
                now = time.monotonic()
                up_since.setdefault(cid, now)
                if app.health.type is HealthCheckType.PROCESS:
                    ok = now - up_since[cid] >= PROCESS_SETTLE_S
                else:
                    ok = await check(app.health, host, port)
                if ok:
                    del pending[cid]
                    if on_healthy is not None:
                        on_healthy(container)
            if not pending:
                return
            if time.monotonic() > deadline:
                container = next(iter(pending.values()))
                lines = await self._call(self._last_lines, container)
                what = {
                    HealthCheckType.HTTP: f"http check GET {app.health.endpoint} on port {app.port}",
                    HealthCheckType.PORT: f"port check on {app.port}",
                    HealthCheckType.PROCESS: "process check",
                }[app.health.type]
                who = f"{app.name}{_as(_process_of(container))}"
                raise DeployError(
                    f"{who}: {what} did not pass within {app.health.timeout_s}s",
                    lines,
                )
            await asyncio.sleep(HEALTH_POLL_S)

    def _last_lines(self, container: Any, count: int = 20) -> tuple[str, ...]:
        try:
            raw = container.logs(tail=count)
        except CONNECTION_ERRORS:
            return ()
        return tuple(raw.decode("utf-8", errors="replace").splitlines()[-count:])

    def _stop_and_remove(self, ids: list[str]) -> None:
        for cid in ids:
            with contextlib.suppress(docker.errors.NotFound, docker.errors.APIError):
                self.client.api.stop(cid, timeout=STOP_TIMEOUT_S)
            with contextlib.suppress(docker.errors.NotFound, docker.errors.APIError):
                self.client.api.remove_container(cid, force=True)

    def _remove_now(self, containers: list[Any]) -> None:
        self._remove_ids([sid for c in containers for sid in self._sidecar_ids.pop(c.id, [])])
        self._remove_ids([c.id for c in containers])

    def _remove_ids(self, ids: list[str]) -> None:
        for cid in ids:
            with contextlib.suppress(docker.errors.NotFound, docker.errors.APIError):
                self.client.api.remove_container(cid, force=True)

    # --- instances and logs ---------------------------------------------------------------------

    def _status(self, container: Any, app: AppSpec) -> InstanceStatus:
        state = container.attrs.get("State") or {}
        status = container.status
        exit_code = state.get("ExitCode")
        if container.id in self._retiring or (container.id in self._restarting and status != "running"):
            shown = "stopping"  # devloop replaced or restarts it: its exit is no crash
        elif status == "running":
            shown = "running"
        elif status == "restarting":
            shown = "crashed"
        elif status in ("exited", "dead"):
            shown = "crashed" if exit_code not in (0, None) else "exited"
        else:
            shown = "starting"
        address = self._address(container, app)
        return InstanceStatus(
            app=app.name,
            index=int(container.labels.get(LABEL_INDEX, "0")),
            id=container.id,
            state=shown,
            healthy=shown == "running",  # checked again by the health wait before traffic
            restarts=int(container.attrs.get("RestartCount", 0)),
            address=f"{address[0]}:{address[1]}" if address else None,
            exit_code=exit_code if shown != "running" else None,
            process=_process_of(container),
            sidecar=_sidecar_of(container),
            oom_killed=bool(state.get("OOMKilled")) and shown != "stopping",
            memory_limit_mb=_memory_limit_mb(container),
            name=str(container.name or ""),
        )

    def snapshot(self, app: AppSpec) -> tuple[InstancesChanged, list[Any] | None]:
        """The app's instances, and the containers that should serve (None: leave routing alone)."""
        generation = self._route_generation.get(app.name, 0)
        serving = self._serving_config.get(app.name)
        statuses = []
        current = []
        containers = []
        for summary in self._summaries(app):
            try:
                containers.append(self.client.containers.get(summary["Id"]))
            except docker.errors.NotFound:
                continue  # removed between the list and the inspect
        self._rejoin_sidecars(containers)
        for container in containers:
            statuses.append(self._status(container, app))
            if (
                container.status == "running"
                and container.id not in self._retiring
                and container.labels.get(LABEL_CONFIG) == serving
                and not _sidecar_of(container)
            ):
                current.append(container)
        unchanged = generation == self._route_generation.get(app.name, 0)
        routed = app.name in self.router.apps and app.name not in self._deploying
        follow = unchanged and routed and (current or app.name not in self._holding)
        return InstancesChanged(app.name, tuple(statuses)), (current if follow else None)

    def _rejoin_sidecars(self, containers: list[Any]) -> None:
        """Restart each sidecar whose instance restarted after it: a restarted container gets a new
        network namespace, and the sidecar must share the current one (a pod's containers do)."""
        started = {c.id: (c.attrs.get("State") or {}).get("StartedAt", "") for c in containers}
        for sidecar in containers:
            if not _sidecar_of(sidecar) or sidecar.id in self._retiring:
                continue
            main = _instance_of(sidecar)
            instance = next((c for c in containers if c.id == main), None)
            if instance is None or instance.status != "running" or main in self._retiring:
                continue
            if _started_ns(started[main]) > _started_ns(started[sidecar.id]):
                with contextlib.suppress(docker.errors.APIError):
                    self.client.api.restart(sidecar.id, timeout=2)
                    sidecar.reload()

    async def _observe(self, app: AppSpec) -> InstancesChanged:
        """A snapshot, and the router following it: a crashed instance leaves rotation at once
        (none left: the 503 page says why); a restarted one (Docker gives it a new host port)
        comes back once its health check passes."""
        change, current = await self._call(self.snapshot, app)
        if current is None:
            return change  # type: ignore[no-any-return]
        in_rotation = {(host, port) for host, port, _index in self.router.backends(app.name)}
        live = {a for a in (self._address(c, app) for c in current) if a is not None}
        self._live[app.name] = live
        staying = [c for c in current if self._address(c, app) in in_rotation]
        if staying or not live:
            self._route(app, staying)
        elif in_rotation:
            # Only restarted instances are left (new host ports): the dead addresses leave rotation,
            # and requests wait for the restarted ones' health checks rather than get a 503 at once.
            self.router.hold(app.name)
        waiting = (
            in_rotation | self._admitting | self._sick.get(app.name, {}).keys()
        )  # the monitor owns the sick
        for container in current:
            address = self._address(container, app)
            if address is not None and address not in waiting:
                self._admitting.add(address)
                task = asyncio.create_task(self._admit_when_healthy(app, container, address))
                self._stopping.add(task)
                task.add_done_callback(self._stopping.discard)
        return change  # type: ignore[no-any-return]

    async def _admit_when_healthy(self, app: AppSpec, container: Any, address: tuple[str, int]) -> None:
        generation = self._route_generation.get(app.name, 0)
        deadline = time.monotonic() + app.health.timeout_s
        try:
            while time.monotonic() < deadline:
                if app.health.type is HealthCheckType.PROCESS or await check(app.health, *address):
                    if generation == self._route_generation.get(app.name, 0):
                        index = container.labels.get(LABEL_INDEX, "?")
                        self.router.add_backend(
                            app.name, *address, index, keep=self._live.get(app.name, set())
                        )
                    return
                await asyncio.sleep(HEALTH_POLL_S)  # polling the instance's health, as the deploy does
        finally:
            self._admitting.discard(address)

    async def instances(self, app: AppSpec) -> InstancesChanged:
        return await self._observe(app)

    async def _monitor(self, app: AppSpec) -> None:
        """Health checks while the app runs, as Cloud Foundry keeps running them: an instance
        failing its check leaves rotation (the others take its requests) and comes back once
        it passes again."""
        sick = self._sick.setdefault(app.name, {})  # out of rotation for failing: address -> index
        while True:
            await asyncio.sleep(max(app.health.interval_s, MONITOR_MIN_S))  # the check's own interval
            if app.name in self._deploying or app.name in self._holding:
                continue
            live = self._live.get(app.name, set())
            for address in [a for a in sick if a not in live]:
                del sick[address]
            for host, port, index in self.router.backends(app.name):
                if (host, port) in live and not await check(app.health, host, port):
                    sick[(host, port)] = index
                    self.router.remove_backend(app.name, (host, port))
                    self.router.notice(app.name, f"instance {index} failed its health check: out of rotation")
            for (host, port), index in list(sick.items()):
                if await check(app.health, host, port):
                    del sick[(host, port)]
                    self.router.add_backend(app.name, host, port, index)
                    self.router.notice(
                        app.name, f"instance {index} passes its health check again: back in rotation"
                    )

    async def watch_instances(self, apps: list[AppSpec]) -> AsyncIterator[InstancesChanged]:
        by_name = {a.name: a for a in apps}
        for app in apps:
            yield await self._observe(app)
        monitors = [
            asyncio.create_task(self._monitor(app))
            for app in apps
            if app.health.type is not HealthCheckType.PROCESS and not app.no_route
        ]
        queue: asyncio.Queue[str | BaseException] = asyncio.Queue()
        loop = asyncio.get_running_loop()
        stop = threading.Event()
        stream_holder: list[Any] = []

        def pump() -> None:
            try:
                stream = self.client.events(
                    decode=True, filters={"label": self._labels(), "type": "container"}
                )
                stream_holder.append(stream)
                for event in stream:
                    if stop.is_set():
                        return
                    name = (event.get("Actor") or {}).get("Attributes", {}).get(LABEL_APP)
                    if name:
                        loop.call_soon_threadsafe(queue.put_nowait, name)
                raise ConnectionError("the event stream ended")  # the engine closed it
            except BaseException as exc:  # the engine went away: tell the consumer
                if not stop.is_set():
                    loop.call_soon_threadsafe(queue.put_nowait, exc)

        thread = threading.Thread(target=pump, name="devloop-docker-events", daemon=True)
        thread.start()
        try:
            while True:
                item = await queue.get()
                if isinstance(item, BaseException):
                    raise _engine_error(item)
                names = {item}
                while not queue.empty():  # coalesce a burst of events
                    extra = queue.get_nowait()
                    if isinstance(extra, BaseException):
                        raise _engine_error(extra)
                    names.add(extra)
                for name in names:
                    if name in by_name:
                        yield await self._observe(by_name[name])
        finally:
            stop.set()
            for monitor in monitors:
                monitor.cancel()
            for stream in stream_holder:
                with contextlib.suppress(Exception):
                    stream.close()

    async def tail(
        self, instance: InstanceStatus, since_ns: int | None, *, follow: bool = True, last: int | None = None
    ) -> AsyncIterator[LogLine]:
        handover = _Handover(asyncio.get_running_loop())
        holder: list[Any] = []
        stop = threading.Event()

        def pump() -> None:
            try:
                container = self.client.containers.get(instance.id)
                kwargs: dict[str, Any] = {"stream": True, "follow": follow, "timestamps": True}
                if since_ns:
                    kwargs["since"] = since_ns / 1e9
                if last is not None:
                    kwargs["tail"] = last
                if not follow:  # one read of the whole backlog: parsing frame by frame off the socket is slow
                    kwargs["stream"] = False
                stream = container.logs(**kwargs) if follow else iter([container.logs(**kwargs) + b"\n"])
                holder.append(stream)
                buffer = b""
                for chunk in stream:  # Docker frames each write: usually one line a chunk
                    if stop.is_set():
                        return
                    buffer += chunk
                    *lines, buffer = buffer.split(b"\n")
                    for raw in filter(None, lines):
                        line = self._log_line(instance, raw)
                        if line is not None and (since_ns is None or line.timestamp_ns > since_ns):
                            handover.add(line)
            except BaseException:
                pass  # the container went away: the stream just ends
            finally:
                handover.end()

        thread = threading.Thread(target=pump, name=f"devloop-logs-{instance.id[:12]}", daemon=True)
        thread.start()
        try:
            async for batch in handover.batches():
                for line in batch:
                    yield line
        finally:
            stop.set()
            for stream in holder:
                with contextlib.suppress(Exception):
                    stream.close()

    def _log_line(self, instance: InstanceStatus, raw: bytes) -> LogLine | None:
        text = raw.decode("utf-8", errors="replace").rstrip("\r")
        stamp, _, message = text.partition(" ")
        try:
            ts = parse_rfc3339_ns(stamp)
        except ValueError:
            return LogLine(instance.app, "APP", text, instance.index, instance.id, process=instance.qualifier)
        return LogLine(instance.app, "APP", message, instance.index, instance.id, ts, instance.qualifier)

    # --- sync -----------------------------------------------------------------------------------

    async def sync(self, app: AppSpec, copies: tuple[SyncCopy, ...]) -> int:
        """The files into every container of the app (web, other processes, sidecars: one image);
        then the restart step in each running instance, web's one at a time. An instance that is
        down (a synced crash) gets the files and is started again: the next good save heals it."""
        containers = await self._call(self._own_containers, app)
        running = [c for c in containers if c.status == "running"]
        present = [c for c in copies if (app.source / c.rel).is_file()]
        gone = [c.dest for c in copies if not (app.source / c.rel).exists()]
        down = [c for c in containers if _is_down(c)]
        for container in running:
            try:
                await self._sync_running(app, container, present, gone)
            except docker.errors.APIError as exc:
                if exc.status_code != 409:  # 409: it crashed since the list; it is down now
                    raise
                down.append(container)
        for container in down:
            await self._call(self._copy_into, container, app, present)
        await self._start_again(app, down, containers)
        return len({c.id for c in running + down if not _sidecar_of(c)})

    async def _sync_running(
        self, app: AppSpec, container: Any, present: list[SyncCopy], gone: list[str]
    ) -> None:
        if app.sync_restart is None or _sidecar_of(container) or _process_of(container) != WEB:
            restart = app.sync_restart is not None and not _sidecar_of(container)
            await self._call(self._sync_into, container, app, present, gone, restart)
            return
        # One instance at a time, out of rotation: the next restarts only once this one serves.
        async with self._out_of_rotation(app, container):
            await self._call(self._sync_into, container, app, present, gone)
            await self._wait_serving(app, container, "a sync")

    def _own_containers(self, app: AppSpec) -> list[Any]:
        """The app's containers in any state, less those devloop is retiring."""
        return [c for c in self._containers(app, True) if c.id not in self._retiring]

    async def _start_again(self, app: AppSpec, down: list[Any], containers: list[Any]) -> None:
        """Start instances that are down (crashed, or held by Docker's restart backoff) and then
        their sidecars, so they share the new network namespace; routing follows by events."""
        for container in (c for c in down if not _sidecar_of(c)):
            await self._call(self.client.api.restart, container.id, timeout=0)
            for sidecar in _sidecars_of(containers, container.id):
                await self._call(self.client.api.restart, sidecar.id, timeout=0)

    @contextlib.asynccontextmanager
    async def _out_of_rotation(self, app: AppSpec, container: Any) -> AsyncIterator[None]:
        """No new requests for `container` and its in-flight ones done, for the duration."""
        self._holding.add(app.name)
        try:
            async with self.router.paused(app.name, self._address(container, app), STOP_TIMEOUT_S):
                yield
        finally:
            self._holding.discard(app.name)
            with contextlib.suppress(DockerUnavailableError):
                await self._observe(app)  # a restart moved the port: route the live ones

    async def _wait_serving(self, app: AppSpec, container: Any, after: str) -> None:
        """Poll the health check until it passes; a restart by Docker on the way is fine."""
        deadline = time.monotonic() + app.health.timeout_s
        await asyncio.sleep(HEALTH_POLL_S)  # let the restart step take effect before probing
        while True:
            await self._call(container.reload)  # a restarted container gets a new host port
            address = self._address(container, app)
            host, port = address if address else ("127.0.0.1", None)
            if await check(app.health, host, port):
                return
            if time.monotonic() > deadline:
                index = _label(container)
                raise DeployError(
                    f"{app.name}/{index} did not serve again within {app.health.timeout_s}s after {after}"
                )
            await asyncio.sleep(HEALTH_POLL_S)

    def _copy_into(self, container: Any, app: AppSpec, present: list[SyncCopy]) -> None:
        """The files into a container in any state (the archive endpoint needs no process)."""
        if present:
            uid, gid = _numeric_user(container.attrs.get("Config", {}).get("User", ""))
            container.put_archive("/", sync_archive(app, present, uid, gid))

    def _sync_into(self, container: Any, app: AppSpec, present: list[SyncCopy], gone: list[str],
                   restart_step: bool = True) -> None:  # fmt: skip
        self._copy_into(container, app, present)
        if gone:
            container.exec_run(["rm", "-f", "--", *gone], user="0")
        restart = app.sync_restart if restart_step else None
        if restart is not None and restart.signal:
            self._signal(container, restart.signal.upper().removeprefix("SIG"))
        elif restart is not None and restart.command:
            container.exec_run(["/bin/sh", "-c", restart.command])

    def _signal(self, container: Any, name: str) -> None:
        """Send SIG`name` to the app's process from inside the container (`kill` on PID 1, the init
        that passes it on). Docker's kill endpoint would do it too, but Docker 20.10 then counts the
        container as stopped by hand and never restarts it after a later crash."""
        result = container.exec_run(["/bin/sh", "-c", f"kill -{name} 1"], user="0")
        if result.exit_code != 0:  # no shell in the image: the endpoint, and a sync heals a crash
            container.kill(signal=f"SIG{name}")

    async def restart(self, app: AppSpec, progress: Progress) -> int:
        """Every instance of every process, one at a time (web's out of rotation until it serves
        again), each followed by its sidecars so they join its new network namespace. Instances
        that are down (crashed, in Docker's restart backoff) are started again too."""
        containers = await self._call(self._own_containers, app)
        instances = [c for c in containers if not _sidecar_of(c) and (c.status == "running" or _is_down(c))]
        for container in sorted(instances, key=lambda c: _process_of(c) != WEB):
            progress(f"restarting instance {_label(container)}")
            sidecars = _sidecars_of(containers, container.id)
            ids = {container.id, *(s.id for s in sidecars)}
            self._restarting.update(ids)  # their SIGTERM exit (143) is asked for, not a crash
            try:
                if _process_of(container) == WEB:
                    async with self._out_of_rotation(app, container):
                        await self._call(self.client.api.restart, container.id, timeout=STOP_TIMEOUT_S)
                        await self._wait_serving(app, container, "a restart")
                else:
                    await self._call(self.client.api.restart, container.id, timeout=STOP_TIMEOUT_S)
                for sidecar in sidecars:
                    await self._call(self.client.api.restart, sidecar.id, timeout=STOP_TIMEOUT_S)
            finally:
                self._restarting.difference_update(ids)
        return len(instances)

    def shell_argv(self, instance: InstanceStatus, command: str | None = None, tty: bool = True) -> list[str]:
        shell = ["/bin/sh", "-c", command] if command else ["/bin/sh"]
        return _exec_argv(instance.id, shell, tty)

    async def instance_env(self, instance: InstanceStatus) -> list[str]:
        """The environment the instance's container runs with (`NAME=value`), for `devloop env`."""
        container = await self._call(self.client.containers.get, instance.id)
        return list((container.attrs.get("Config") or {}).get("Env") or [])

    # --- backing services: the cf service commands -----------------------------------------------

    async def service_states(self) -> dict[str, str]:
        return await self._call(self.services.states)  # type: ignore[no-any-return]

    async def service_password(self, service: ServiceSpec) -> str | None:
        return self.services.password(service, create=False)

    def service_shell_argv(self, service: ServiceSpec, args: tuple[str, ...], tty: bool) -> list[str]:
        """The service's own client (psql, redis-cli) inside its container, as `devloop ssh` does."""
        return _exec_argv(self.services.container_name(service), [*service.type.shell_command, *args], tty)

    # --- teardown -------------------------------------------------------------------------------

    async def remove(self, apps: list[AppSpec] | None, purge: bool = False) -> Removed:
        targets: list[dict[str, Any]] = []
        services: tuple[str, ...] = ()
        volumes: tuple[str, ...] = ()
        if apps is None:
            summaries = await self._call(self._summaries, None)
            targets = [t for t in summaries if LABEL_SERVICE not in (t.get("Labels") or {})]
            # The whole project goes: its services too (their data stays unless `purge`).
            services, volumes = await self._call(self.services.remove, purge)
        else:
            for app in apps:
                targets += await self._call(self._summaries, app)
        targets.sort(key=lambda t: not _sidecar_of(t))  # sidecars before the instances they join
        await self._call(self._remove_ids, [t["Id"] for t in targets])
        if not await self._call(self._summaries, None):
            await self._call(self._remove_network)  # the project's last instance went: no empty network stays
        instances = [t for t in targets if not _sidecar_of(t)]  # a sidecar is part of its instance
        return Removed(len(instances), services, volumes)

    def _remove_network(self) -> None:
        for network in self.client.api.networks(names=[self.network]):
            with contextlib.suppress(docker.errors.APIError):
                self.client.api.remove_network(network["Id"])

    async def close(self) -> None:
        await self.router.close()
        if self._stopping:
            await asyncio.gather(*self._stopping, return_exceptions=True)
        if self._client is not None:
            with contextlib.suppress(Exception):
                self._client.close()


class _Handover:
    """Lines from a reader thread to the event loop, coalesced: one wake-up per burst, not per line.

    The thread appends under a lock and schedules one drain only when none is pending,
    so while the loop is busy lines gather into one batch (200,000 lines cost a few
    thousand wake-ups instead of 200,000).
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._lock = threading.Lock()
        self._pending: list[LogLine] = []
        self._scheduled = False
        self._ended = False
        self._queue: asyncio.Queue[list[LogLine] | None] = asyncio.Queue()

    def add(self, line: LogLine) -> None:
        with self._lock:
            self._pending.append(line)
            if self._scheduled:
                return
            self._scheduled = True
        self._loop.call_soon_threadsafe(self._drain)

    def end(self) -> None:
        with self._lock:
            self._ended = True
            if self._scheduled:
                return
            self._scheduled = True
        with contextlib.suppress(RuntimeError):  # the loop is already closed
            self._loop.call_soon_threadsafe(self._drain)

    def _drain(self) -> None:
        with self._lock:
            batch, self._pending = self._pending, []
            ended, self._scheduled = self._ended, False
        if batch:
            self._queue.put_nowait(batch)
        if ended:
            self._queue.put_nowait(None)

    async def batches(self) -> AsyncIterator[list[LogLine]]:
        while (batch := await self._queue.get()) is not None:
            yield batch


def _is_down(container: Any) -> bool:
    """Not serving and not on its way out: exited (crashed) or waiting in Docker's backoff."""
    return container.status in ("exited", "restarting")


def _exec_argv(container: str, command: list[str], tty: bool) -> list[str]:
    """`docker exec` of `command` in `container`, with the Docker CLI this machine has."""
    from devloop.adapters import dockercli

    return [dockercli.detect().path, "exec", "-it" if tty else "-i", container, *command]


def _labels_of(item: Any) -> dict[str, str]:
    """Labels of a container summary (the list endpoint) or a container object."""
    labels = item.get("Labels") if isinstance(item, dict) else item.labels
    return labels or {}


def _process_of(item: Any) -> str:
    """The process type a container runs; containers from before process types ran web."""
    return _labels_of(item).get(LABEL_PROCESS, WEB)


def _sidecar_of(item: Any) -> str:
    return _labels_of(item).get(LABEL_SIDECAR, "")


def _label(container: Any) -> str:
    """`0`, `worker/1`: an instance as messages name it."""
    process, index = _process_of(container), _labels_of(container).get(LABEL_INDEX, "?")
    return index if process == WEB else f"{process}/{index}"


def _instance_of(sidecar: Any) -> str:
    """The id of the instance whose network a sidecar shares (a summary or a container object)."""
    host_config = (sidecar if isinstance(sidecar, dict) else sidecar.attrs).get("HostConfig") or {}
    return str(host_config.get("NetworkMode", "")).removeprefix("container:")


def _sidecars_of(items: list[Any], instance_id: str) -> list[Any]:
    """The sidecars among `items` that share the network of the instance `instance_id`."""
    return [item for item in items if _sidecar_of(item) and _instance_of(item) == instance_id]


def _memory_limit_mb(container: Any) -> int | None:
    limit = (container.attrs.get("HostConfig") or {}).get("Memory") or 0
    return int(limit) // (1024 * 1024) if limit else None


def _started_ns(stamp: str) -> int:
    try:
        return parse_rfc3339_ns(stamp)
    except ValueError:
        return 0


def _as(process: str) -> str:
    return "" if process == WEB else f" as process {process}"


def _numeric_user(user: str) -> tuple[int, int]:
    name, _, group = user.partition(":")
    uid = int(name) if name.isdigit() else 0
    gid = int(group) if group.isdigit() else uid
    return uid, gid


__all__ = ["DockerProvider"]
