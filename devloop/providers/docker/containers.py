"""The project's containers on the local Docker engine: found by label, started (an instance and its
sidecars), inspected and removed, on the project's own network, with ports on 127.0.0.1 only.

Every engine call goes through `Containers.call`: in a thread, off the event loop, with a lost
engine turned into one DockerUnavailableError naming its address.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import replace
from typing import ParamSpec, TypeVar

from devloop.adapters.dockerapi import (
    ContainerInfo,
    ContainerSpec,
    DockerEngine,
    PortBinding,
    describe,
    engine_address,
)
from devloop.adapters.dockerhttp import open_engine
from devloop.core import cfenv, stages
from devloop.core.debug import Runtime
from devloop.core.events import InstanceStatus
from devloop.core.processes import WEB, main_memory_mb, process_name
from devloop.core.routes import internal_hosts
from devloop.core.spec import AppSpec, HealthCheckType, SidecarSpec
from devloop.errors import DevloopError, DockerNotFoundError, DockerRefusedError, DockerUnavailableError
from devloop.providers.docker.labels import (
    LABEL_APP,
    LABEL_CONFIG,
    LABEL_DEBUG,
    LABEL_IMAGE,
    LABEL_INDEX,
    LABEL_PROCESS,
    LABEL_PROJECT,
    LABEL_SIDECAR,
    config_hash,
    instance_of,
    instance_status,
    sidecar_of,
    started_ns,
)
from devloop.providers.docker.sandboxes import Sandboxes, Shape, is_sandbox, joined

STOP_TIMEOUT_S = 10  # Cloud Foundry gives an app 10 s to stop after SIGTERM

P = ParamSpec("P")
T = TypeVar("T")


def engine_error(exc: BaseException) -> DockerUnavailableError:
    """The one message for an engine that stopped answering (or was never there)."""
    reason = exc.reason if isinstance(exc, DockerUnavailableError) and exc.reason else describe(exc)
    return DockerUnavailableError(
        f"the Docker engine at {engine_address()} is not answering: {reason}", reason=reason
    )


class Containers:
    """One project's containers, and what devloop means by their exits (retiring, restarting)."""

    def __init__(self, project_id: str, engine: DockerEngine | None = None) -> None:
        self.project_id = project_id
        self._engine = engine
        self.retiring: set[str] = set()  # containers devloop is stopping on purpose
        self.restarting: set[str] = set()  # containers `devloop restart` is restarting: no crash
        self.sidecar_ids: dict[str, list[str]] = {}  # instances a deploy is starting -> their sidecars
        self.debug: dict[str, Runtime] = {}  # apps whose web instances run under a debugger
        self._network_seen = False  # ensured once by this process: a start need not ask again
        self.sandboxes = Sandboxes(project_id, self.network)
        self._sandbox_of: dict[str, str] = {}  # instance id -> the sandbox it runs in

    @property
    def engine(self) -> DockerEngine:
        """The engine, connected on first use (in a worker thread: it blocks)."""
        if self._engine is None:
            try:
                self._engine = open_engine(timeout=30)
            except DockerUnavailableError as exc:
                raise engine_error(exc) from None
        return self._engine

    async def call(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """`fn` in a thread; the engine's refusals pass, a lost connection is DockerUnavailableError."""
        try:
            return await asyncio.to_thread(fn, *args, **kwargs)
        except DockerUnavailableError as exc:
            raise engine_error(exc) from None

    def close(self) -> None:
        if self._engine is not None:
            with contextlib.suppress(Exception):
                self._engine.close()

    # --- finding -----------------------------------------------------------------------------------

    def labels(self, app: AppSpec | None = None) -> list[str]:
        """The label filter of the project's containers (of one app's)."""
        labels = [f"{LABEL_PROJECT}={self.project_id}"]
        if app is not None:
            labels.append(f"{LABEL_APP}={app.name}")
        return labels

    def summaries(self, app: AppSpec | None = None) -> list[ContainerInfo]:
        """Id, labels, state, network and ports of each container in one call (the list endpoint).
        Sandboxes are left out: made from the app's image, they carry its labels too."""
        return [c for c in self.engine.containers(self.labels(app)) if not is_sandbox(c)]

    def own(self, app: AppSpec) -> list[ContainerInfo]:
        """The app's containers in any state, each inspected, less those devloop is retiring."""
        return [c for c in self.inspect(app) if c.id not in self.retiring]

    def inspect(self, app: AppSpec) -> list[ContainerInfo]:
        """The app's containers, each inspected (those removed meanwhile left out)."""
        found = []
        for summary in self.summaries(app):
            try:
                found.append(self.get(summary.id))
            except DockerNotFoundError:
                continue  # removed between the list and the inspect
        return found

    def get(self, ref: str) -> ContainerInfo:
        """One container as it is now (an inspect); an instance in a sandbox with its ports."""
        found = self.engine.container(ref)
        sandbox = joined(found)
        if sandbox and not sidecar_of(found):
            return replace(found, ports=self.sandboxes.published(self.engine, sandbox))
        return found

    def status(self, container: ContainerInfo, app: AppSpec) -> InstanceStatus:
        stopping = container.id in self.retiring or (
            container.id in self.restarting and container.status != "running"
        )
        return instance_status(container, app, stopping)

    def last_lines(self, container: ContainerInfo, count: int = 20) -> tuple[str, ...]:
        try:
            return self.engine.logs(container.id, count)
        except DevloopError:
            return ()

    # --- the network -------------------------------------------------------------------------------

    @property
    def network(self) -> str:
        return f"devloop-{self.project_id}"

    def ensure_network(self) -> None:
        """One network per project: apps reach each other by name (web -> redis:6379)."""
        if not self.engine.network_exists(self.network):
            self.engine.create_network(self.network, {LABEL_PROJECT: self.project_id})

    def remove_network(self) -> None:
        self._network_seen = False
        with contextlib.suppress(DockerRefusedError):
            self.engine.remove_network(self.network)

    # --- starting ----------------------------------------------------------------------------------

    def start_instance(
        self, app: AppSpec, image: str, index: int, generation: str, router_port: int, process: str = WEB,
        sidecars: tuple[SidecarSpec, ...] = (),
    ) -> ContainerInfo:  # fmt: skip
        """One instance of `process` (`app` is its view) and its sidecars, which share its network
        namespace as containers in a pod do: they reach each other on 127.0.0.1."""
        # What Cloud Foundry sets wins over the app's own env, as cf reserves PORT and VCAP_*.
        # Docker picks the instance's address when it starts, after its env is fixed: 127.0.0.1
        # is an address of the instance's own network namespace (shared with its sidecars).
        system = cfenv.instance_env(
            app, project=self.project_id, process=process, index=index, generation=generation,
            image=image, router_port=router_port, ip="127.0.0.1", started_at=time.time(),
        )  # fmt: skip
        env = {**cfenv.unbound_services(app), **dict(app.env), **dict(app.secret_env), **system}
        # The web process is published for the router; another only for a port or http check.
        published = process == WEB or app.health.type is not HealthCheckType.PROCESS
        engine = self.engine
        if not self._network_seen:  # one question per process, not one per instance started
            self.ensure_network()
            self._network_seen = True
        stages.mark("network")
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
        ports = (PortBinding(app.port, None),) if published else ()  # loopback only, a free port
        runtime = self.debug.get(app.name) if process == WEB else None
        if runtime is not None:  # its debug port too; core.debug's stable port forwards to it
            labels[LABEL_DEBUG] = runtime.name
            ports = (*ports, PortBinding(runtime.port, None))
        aliases = _aliases(app, process)
        shape = Shape(app.name, process, image, tuple(p.container_port for p in ports))
        sandbox = self.sandboxes.take(engine, shape, aliases)
        stages.mark("sandbox")
        shell = ("/bin/sh", "-c")
        spec = ContainerSpec(
            image=image,
            name=name,
            labels=labels,
            environment=env,
            entrypoint=(*shell, app.command) if app.command else None,
            command=() if app.command else None,
            ports=() if sandbox else ports,  # a sandbox publishes them
            network=f"container:{sandbox}" if sandbox else self.network,
            aliases=() if sandbox else aliases,
            # No restarts until healthy, so a crash at start keeps its exit code and output;
            # `unless-stopped` (Docker's backoff, like CrashLoopBackOff) once it serves.
            restart_policy="no",
            init=True,
            security_opt=("no-new-privileges",),  # setuid binaries cannot raise the app's privileges
            memory_mb=main_memory_mb(app.memory_mb, sidecars) or None,
        )  # fmt: skip
        try:
            main = engine.create_container(spec)
        except DockerNotFoundError:  # the network went since (`docker network prune`): make it again
            if sandbox:
                self.sandboxes.release(engine, sandbox)
                sandbox = None
                spec = replace(spec, ports=ports, network=self.network, aliases=aliases)
            self.ensure_network()
            main = engine.create_container(spec)
        except BaseException:
            if sandbox:
                self.sandboxes.release(engine, sandbox)
            raise
        if sandbox:
            self.sandboxes.joined_by(sandbox)
            self._sandbox_of[main] = sandbox
        stages.mark("create")
        started: list[str] = []
        try:
            engine.start(main)
            stages.mark("start")
            for sidecar in sidecars:
                one = engine.create_container(ContainerSpec(
                    image=image,
                    name=f"{name}-{sidecar.name}",
                    labels={**labels, LABEL_SIDECAR: sidecar.name},
                    environment=env,
                    entrypoint=(*shell, sidecar.command),
                    command=(),
                    network=f"container:{main}",
                    restart_policy="no",
                    init=True,
                    security_opt=("no-new-privileges",),
                    memory_mb=sidecar.memory_mb or None,
                ))  # fmt: skip
                started.append(one)
                engine.start(one)
        except BaseException:
            self.remove_ids([*started, main])
            raise
        self.sidecar_ids[main] = started
        found = self.get(main)  # one inspect: ports are known now
        stages.mark("inspect")
        return found

    def restart(self, instance: str, timeout_s: int) -> None:
        """`docker restart` of an instance; its sandbox first if that is down (stopped by hand):
        an instance cannot start in the network of a container that is not running."""
        sandbox = self._sandbox_for_running(instance)
        if sandbox:
            with contextlib.suppress(DockerRefusedError):
                self.engine.start(sandbox)
        self.engine.restart(instance, timeout_s)

    def _sandbox_for_running(self, instance: str) -> str:
        try:
            found = self.engine.container(instance)
        except DockerNotFoundError:
            return ""
        sandbox = "" if sidecar_of(found) else joined(found)
        if not sandbox:
            return ""
        try:
            return "" if self.engine.container(sandbox).running else sandbox
        except DockerNotFoundError:
            return ""

    def rejoin_sidecars(self, containers: list[ContainerInfo]) -> list[ContainerInfo]:
        """Restart each sidecar whose instance restarted after it: a restarted container gets a new
        network namespace, and the sidecar must share the current one (a pod's containers do).
        The containers, those restarted as they are now."""
        started = {c.id: started_ns(c) for c in containers}
        now = list(containers)
        for at, sidecar in enumerate(containers):
            if not sidecar_of(sidecar) or sidecar.id in self.retiring:
                continue
            main = instance_of(sidecar)
            instance = next((c for c in containers if c.id == main), None)
            if instance is None or instance.status != "running" or main in self.retiring:
                continue
            if joined(instance):  # its network is its sandbox's, the same after a restart
                continue
            if started[main] > started[sidecar.id]:
                with contextlib.suppress(DockerRefusedError):
                    self.engine.restart(sidecar.id, 2)
                    now[at] = self.engine.container(sidecar.id)
        return now

    # --- removing ----------------------------------------------------------------------------------

    def stop_and_remove(self, ids: list[str]) -> None:
        """SIGTERM, up to STOP_TIMEOUT_S to exit, then gone; one already gone is no error."""
        for cid in ids:
            sandbox = self._sandbox_for(cid)
            with contextlib.suppress(DockerRefusedError):
                self.engine.stop(cid, STOP_TIMEOUT_S)
            with contextlib.suppress(DockerRefusedError):
                self.engine.remove_container(cid)
            if sandbox:
                self.sandboxes.release(self.engine, sandbox)

    def remove_now(self, containers: list[ContainerInfo]) -> None:
        """Instances a failed deploy started, their sidecars first."""
        self.remove_ids([sid for c in containers for sid in self.sidecar_ids.pop(c.id, [])])
        self.remove_ids([c.id for c in containers])

    def remove_ids(self, ids: list[str]) -> None:
        for cid in ids:
            sandbox = self._sandbox_for(cid)
            with contextlib.suppress(DockerRefusedError):
                self.engine.remove_container(cid)
            if sandbox:
                self.sandboxes.release(self.engine, sandbox)

    def _sandbox_for(self, instance: str) -> str:
        """The sandbox an instance runs in, which goes with it ("" for none): no name of the app
        may resolve to a sandbox nothing listens in (a refill parks a new one)."""
        known = self._sandbox_of.pop(instance, None)
        if known is not None:
            return known
        try:  # started by an earlier devloop
            found = self.engine.container(instance)
        except DevloopError:
            return ""
        return "" if sidecar_of(found) else joined(found)

    def refill_sandboxes(self, app: AppSpec, image: str, process: str = WEB) -> None:
        """Park sandboxes for `process`'s next deploy (one per instance), off the save's path."""
        published = process == WEB or app.health.type is not HealthCheckType.PROCESS
        ports = (app.port,) if published else ()
        runtime = self.debug.get(app.name) if process == WEB else None
        if runtime is not None:
            ports = (*ports, runtime.port)
        self.sandboxes.refill(self.engine, Shape(app.name, process, image, ports), app.instances)


def _aliases(app: AppSpec, process: str) -> tuple[str, ...]:
    """Names other containers of the project reach this one by: its process name, and for web
    its cf internal routes (`api.apps.internal`), served on the app's own port."""
    internal = list(internal_hosts(app)) if process == WEB else []
    return (process_name(app.name, process), *internal)


def exec_argv(container: str, command: list[str], tty: bool) -> list[str]:
    """`docker exec` of `command` in `container`, with the Docker CLI this machine has."""
    from devloop.adapters import dockercli

    return [dockercli.detect().path, "exec", "-it" if tty else "-i", container, *command]
