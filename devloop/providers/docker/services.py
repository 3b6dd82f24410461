"""Backing services on the docker provider: one container each, data in a named volume.

A service container joins the project's network under the service's name (apps
reach `db:5432`), keeps its data in a volume that outlives the container (until
`devloop down --purge`), and is ready once its client answers inside it
(`pg_isready`, `redis-cli ping`, ...). Passwords are generated once per project
and service and kept in a user-only file, so a restarted service still opens
the data it wrote.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import ParamSpec, Protocol, TypeVar

from devloop.adapters.dockerapi import ContainerInfo, ContainerSpec, DockerEngine, PortBinding
from devloop.adapters.images import ensure_image_off_loop
from devloop.core.services import Credentials, ServiceSpec, credentials_for, new_password
from devloop.errors import DeployError, DockerNotFoundError, DockerRefusedError
from devloop.fs import state_home, write_private

LABEL_SERVICE = "devloop.service"
STOP_TIMEOUT_S = 10
READY_POLL_S = 0.25  # a database takes a second or more to start: no need to ask more often

Progress = Callable[[str], None]
P = ParamSpec("P")
T = TypeVar("T")


class OffLoop(Protocol):
    """Runs a blocking engine call in a worker thread (asyncio.to_thread, or the provider's)."""

    def __call__(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> Awaitable[T]: ...


class DockerServices:
    """The project's service containers on one engine; `call` runs a blocking engine call off the loop."""

    def __init__(
        self,
        engine: Callable[[], DockerEngine],
        project_id: str,
        network: str,
        call: OffLoop | None = None,
    ) -> None:
        self._engine = engine
        self.project_id = project_id
        self.network = network
        self._call: OffLoop = call or _to_thread
        self._ready: dict[str, Credentials] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    @property
    def engine(self) -> DockerEngine:
        return self._engine()

    # --- names and secrets ----------------------------------------------------------------------

    def container_name(self, service: ServiceSpec) -> str:
        return f"devloop-svc-{self.project_id}-{service.name}"

    def volume_name(self, service: ServiceSpec) -> str:
        return f"devloop-{self.project_id}-{service.name}"

    @property
    def passwords_file(self) -> Path:
        return state_home() / self.project_id / "services.json"

    def _passwords(self) -> dict[str, str]:
        try:
            return dict(json.loads(self.passwords_file.read_text()))
        except (OSError, ValueError):
            return {}

    def password(self, service: ServiceSpec, create: bool = True) -> str | None:
        """The service's password: made once, then read back, so its data stays reachable."""
        saved = self._passwords()
        if service.name not in saved and create:
            saved[service.name] = new_password()
            write_private(self.passwords_file, json.dumps(saved, indent=2))
        return saved.get(service.name)

    # --- provisioning ---------------------------------------------------------------------------

    async def ensure(self, service: ServiceSpec, progress: Progress) -> Credentials:
        """The service running and ready (started if need be); how bound apps reach it."""
        lock = self._locks.setdefault(service.name, asyncio.Lock())
        async with lock:
            if service.name in self._ready:
                return self._ready[service.name]
            password = self.password(service)
            assert password is not None
            container = await self._call(self._running, service, password)
            if container is None:
                await ensure_image_off_loop(self.engine, service.image, service.pull, progress)
                progress(f"starting service {service.name} ({service.type.name}, {service.image})")
                container = await self._call(self._start, service, password)
            await self._wait_ready(service, container.id)
            progress(f"service {service.name} is ready")
            credentials = credentials_for(service, password)
            self._ready[service.name] = credentials
            return credentials

    def _config(self, service: ServiceSpec, password: str) -> str:
        shape = [service.image, service.host_port, hashlib.sha256(password.encode()).hexdigest()]
        return hashlib.sha256(json.dumps(shape).encode()).hexdigest()[:16]

    def _running(self, service: ServiceSpec, password: str) -> ContainerInfo | None:
        """The service's container if it runs as configured; a stale one is removed (its data stays)."""
        engine = self.engine
        try:
            container = engine.container(self.container_name(service))
        except DockerNotFoundError:
            return None
        if container.status == "running" and container.labels.get("devloop.config") == self._config(
            service, password
        ):
            return container
        engine.remove_container(container.id)
        return None

    def _start(self, service: ServiceSpec, password: str) -> ContainerInfo:
        kind = service.type
        engine = self.engine
        labels = {"devloop.project": self.project_id, LABEL_SERVICE: service.name}
        with contextlib.suppress(DockerRefusedError):  # it exists: the data of an earlier run
            engine.create_volume(self.volume_name(service), labels)
        command = kind.command(password)
        spec = ContainerSpec(
            service.image,
            self.container_name(service),
            labels={
                **labels,
                "devloop.service-type": kind.name,
                "devloop.config": self._config(service, password),
            },
            environment=kind.environment(password, service.database),
            command=tuple(command) if command is not None else None,
            ports=(PortBinding(kind.port, service.host_port),) if service.host_port else (),
            volumes=((self.volume_name(service), kind.data_path),),
            network=self.network,
            aliases=(service.name,),
            restart_policy="unless-stopped",
            init=True,
            security_opt=("no-new-privileges",),
        )
        created = engine.create_container(spec)
        engine.start(created)
        return engine.container(created)

    async def _wait_ready(self, service: ServiceSpec, container_id: str) -> None:
        engine = self.engine
        deadline = time.monotonic() + service.ready_timeout_s
        while True:
            container = await self._call(engine.container, container_id)
            if container.status not in ("running", "restarting", "created"):
                lines = await self._call(_last_lines, engine, container_id)
                code = container.exit_code
                why = f"service {service.name} exited with code {code} before it was ready"
                raise DeployError(why, lines)
            if container.status == "running":
                answer = await self._call(engine.exec, container_id, list(service.type.ready_command))
                if answer == 0:
                    return
            if time.monotonic() > deadline:
                lines = await self._call(_last_lines, engine, container_id)
                within = f"{service.ready_timeout_s}s"
                raise DeployError(
                    f"service {service.name} ({service.type.name}) was not ready within {within}; "
                    "the apps bound to it are held back",
                    lines,
                )
            await asyncio.sleep(READY_POLL_S)  # polling the service's own readiness check

    # --- commands -------------------------------------------------------------------------------

    def states(self) -> dict[str, str]:
        """Service name -> container state, for `devloop services`."""
        found = self.engine.containers([f"devloop.project={self.project_id}", LABEL_SERVICE])
        return {c.labels[LABEL_SERVICE]: c.status for c in found}

    def remove(self, purge: bool) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """Remove the service containers; with `purge`, their data and passwords too. Returns the
        names of the services and of the volumes removed."""
        engine = self.engine
        label = [f"devloop.project={self.project_id}", LABEL_SERVICE]
        services = []
        for container in engine.containers(label):
            with contextlib.suppress(DockerRefusedError):
                engine.stop(container.id, STOP_TIMEOUT_S)  # a database deserves a clean shutdown
            with contextlib.suppress(DockerRefusedError):
                engine.remove_container(container.id)
                services.append(container.labels.get(LABEL_SERVICE) or container.name)
        volumes = []
        if purge:
            for volume in engine.volumes(label):
                with contextlib.suppress(DockerRefusedError):
                    engine.remove_volume(volume)
                    volumes.append(volume)
            self.passwords_file.unlink(missing_ok=True)
        self._ready.clear()
        return tuple(sorted(services)), tuple(sorted(volumes))


async def _to_thread(fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    return await asyncio.to_thread(fn, *args, **kwargs)


def _last_lines(engine: DockerEngine, container_id: str, count: int = 20) -> tuple[str, ...]:
    try:
        return engine.logs(container_id, count)
    except Exception:
        return ()
