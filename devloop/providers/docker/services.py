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
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import docker.errors

from devloop.adapters.images import ensure_image_off_loop
from devloop.core.services import Credentials, ServiceSpec, credentials_for, new_password
from devloop.errors import DeployError
from devloop.fs import write_private

LABEL_SERVICE = "devloop.service"
STOP_TIMEOUT_S = 10
READY_POLL_S = 0.25  # a database takes a second or more to start: no need to ask more often

Progress = Callable[[str], None]


def state_dir() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return Path(base) / "devloop"


class DockerServices:
    def __init__(self, client: Callable[[], Any], project_id: str, network: str, call: Any) -> None:
        self._client = client
        self.project_id = project_id
        self.network = network
        self._call = call
        self._ready: dict[str, Credentials] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    @property
    def client(self) -> Any:
        return self._client()

    # --- names and secrets ----------------------------------------------------------------------

    def container_name(self, service: ServiceSpec) -> str:
        return f"devloop-svc-{self.project_id}-{service.name}"

    def volume_name(self, service: ServiceSpec) -> str:
        return f"devloop-{self.project_id}-{service.name}"

    @property
    def passwords_file(self) -> Path:
        return state_dir() / self.project_id / "services.json"

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
                await ensure_image_off_loop(self.client, service.image, service.pull, progress)
                progress(f"starting service {service.name} ({service.type.name}, {service.image})")
                container = await self._call(self._start, service, password)
            await self._wait_ready(service, container)
            progress(f"service {service.name} is ready")
            credentials = credentials_for(service, password)
            self._ready[service.name] = credentials
            return credentials

    def _config(self, service: ServiceSpec, password: str) -> str:
        shape = [service.image, service.host_port, hashlib.sha256(password.encode()).hexdigest()]
        return hashlib.sha256(json.dumps(shape).encode()).hexdigest()[:16]

    def _running(self, service: ServiceSpec, password: str) -> Any | None:
        """The service's container if it runs as configured; a stale one is removed (its data stays)."""
        try:
            container = self.client.containers.get(self.container_name(service))
        except docker.errors.NotFound:
            return None
        if container.status == "running" and container.labels.get("devloop.config") == self._config(
            service, password
        ):
            return container
        container.remove(force=True)
        return None

    def _start(self, service: ServiceSpec, password: str) -> Any:
        kind = service.type
        api = self.client.api
        ports = {f"{kind.port}/tcp": ("127.0.0.1", service.host_port)} if service.host_port else {}
        host_config = api.create_host_config(
            network_mode=self.network,
            binds={self.volume_name(service): {"bind": kind.data_path, "mode": "rw"}},
            port_bindings=ports,
            restart_policy={"Name": "unless-stopped"},
            init=True,
            security_opt=["no-new-privileges"],
        )
        labels = {"devloop.project": self.project_id, LABEL_SERVICE: service.name}
        with contextlib.suppress(docker.errors.APIError):  # it exists: the data of an earlier run
            api.create_volume(self.volume_name(service), labels=labels)
        created = api.create_container(
            service.image,
            name=self.container_name(service),
            environment=kind.environment(password, service.database),
            command=kind.command(password),
            labels={
                "devloop.project": self.project_id,
                LABEL_SERVICE: service.name,
                "devloop.service-type": kind.name,
                "devloop.config": self._config(service, password),
            },
            ports=[kind.port] if ports else None,
            host_config=host_config,
            networking_config=api.create_networking_config(
                {self.network: api.create_endpoint_config(aliases=[service.name])}
            ),
            detach=True,
        )
        api.start(created["Id"])
        return self.client.containers.get(created["Id"])

    async def _wait_ready(self, service: ServiceSpec, container: Any) -> None:
        deadline = time.monotonic() + service.ready_timeout_s
        while True:
            await self._call(container.reload)
            if container.status not in ("running", "restarting", "created"):
                lines = await self._call(_last_lines, container)
                code = (container.attrs.get("State") or {}).get("ExitCode")
                raise DeployError(
                    f"service {service.name} exited with code {code} before it was ready", lines
                )
            if container.status == "running":
                result = await self._call(container.exec_run, list(service.type.ready_command))
                if result.exit_code == 0:
                    return
            if time.monotonic() > deadline:
                lines = await self._call(_last_lines, container)
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
        found = self.client.containers.list(all=True, filters={"label": [f"devloop.project={self.project_id}",
                                                                           LABEL_SERVICE]})  # fmt: skip
        return {c.labels[LABEL_SERVICE]: c.status for c in found}

    def remove(self, purge: bool) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """Remove the service containers; with `purge`, their data and passwords too. Returns the
        names of the services and of the volumes removed."""
        label = [f"devloop.project={self.project_id}", LABEL_SERVICE]
        found = self.client.containers.list(all=True, filters={"label": label})
        services = []
        for container in found:
            with contextlib.suppress(docker.errors.NotFound, docker.errors.APIError):
                container.stop(timeout=STOP_TIMEOUT_S)  # a database deserves a clean shutdown
            with contextlib.suppress(docker.errors.NotFound, docker.errors.APIError):
                container.remove(force=True)
                services.append(container.labels.get(LABEL_SERVICE) or container.name)
        volumes = []
        if purge:
            for volume in self.client.volumes.list(filters={"label": label}):
                with contextlib.suppress(docker.errors.NotFound, docker.errors.APIError):
                    volume.remove(force=True)
                    volumes.append(volume.name)
            self.passwords_file.unlink(missing_ok=True)
        self._ready.clear()
        return tuple(sorted(services)), tuple(sorted(volumes))


def _last_lines(container: Any, count: int = 20) -> tuple[str, ...]:
    try:
        raw = container.logs(tail=count)
    except Exception:
        return ()
    return tuple(raw.decode("utf-8", errors="replace").splitlines()[-count:])
