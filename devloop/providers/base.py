"""The provider interface: turn an app's desired processes into running instances.

The engine and the CLI drive a provider only through these methods, so they never
know whether containers or pods run the app. What only one provider can do is a
capability of its own (`ClusterProvider`, `EnvReader`), asked for with isinstance
rather than getattr.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from devloop.core.changes import SyncCopy
from devloop.core.events import InstancesChanged, InstanceStatus
from devloop.core.logbuffer import LogLine
from devloop.core.removal import Removed
from devloop.core.services import ServiceSpec
from devloop.core.spec import AppSpec, TaskSpec
from devloop.errors import DeployError
from devloop.router.router import Router

__all__ = ["ClusterProvider", "DeployError", "Deployed", "EnvReader", "Progress", "Provider", "TaskOutput"]

Progress = Callable[[str], None]
TaskOutput = Callable[[LogLine], None]  # a task's output lines, tagged `APP/TASK/NAME`, as they come


@dataclass(frozen=True)
class Deployed:
    url: str | None
    notice: str | None = None  # e.g. "port 8080 is in use; web is on 8081"


@runtime_checkable
class Provider(Protocol):
    name: str
    router: Router  # the apps' stable URLs; the provider keeps their rotation current

    async def ensure_platform(self, progress: Progress) -> str:
        """Make the scheduler ready (engine reachable, cluster created); describe it."""
        ...

    async def deliver(self, app: AppSpec, image: str, progress: Progress) -> str:
        """Make `image` available to the scheduler; return the reference to run."""
        ...

    async def deploy(self, app: AppSpec, image: str, progress: Progress) -> Deployed:
        """Run `app` from `image`: start new instances, wait for health, then stop the old."""
        ...

    async def instances(self, app: AppSpec) -> InstancesChanged:
        """The app's instances now, without devloop up running (status, ssh); creates nothing."""
        ...

    def watch_instances(self, apps: list[AppSpec]) -> AsyncIterator[InstancesChanged]:
        """Every change to the apps' instances, starting with the current ones."""
        ...

    def tail(
        self, instance: InstanceStatus, since_ns: int | None, *, follow: bool = True, last: int | None = None
    ) -> AsyncIterator[LogLine]:
        """One instance's output after `since_ns` (or its `last` lines), following until it stops."""
        ...

    async def sync(self, app: AppSpec, copies: tuple[SyncCopy, ...]) -> int:
        """Copy changed files into every running instance, then run the app's restart step."""
        ...

    async def restart(self, app: AppSpec, progress: Progress) -> int:
        """Restart the app's instances one at a time, each serving again before the next."""
        ...

    def shell_argv(self, instance: InstanceStatus, command: str | None = None, tty: bool = True) -> list[str]:
        """A command that opens a shell in `instance` (or runs `command` there)."""
        ...

    async def current_image(self, app: AppSpec) -> str | None:
        """The image the app's web instances run now (as the scheduler refers to it); None: none run."""
        ...

    async def run_task(
        self, app: AppSpec, image: str, task: TaskSpec, output: TaskOutput, progress: Progress
    ) -> int:
        """Run `task` once from `image` with the app's env and bindings (cf `run-task`), its output to
        `output`; its exit code. Nothing of it is left behind, also when cancelled (Ctrl-C)."""
        ...

    async def service_states(self) -> dict[str, str]:
        """Backing service name -> its state (`running`, ...), for `devloop services`."""
        ...

    async def service_password(self, service: ServiceSpec) -> str | None:
        """The service's generated password, if it was ever provisioned; creates nothing."""
        ...

    def service_shell_argv(self, service: ServiceSpec, args: tuple[str, ...], tty: bool) -> list[str]:
        """A command that runs the service's own client (psql, redis-cli) next to it."""
        ...

    async def remove(self, apps: list[AppSpec] | None, purge: bool = False) -> int | Removed:
        """Remove the apps' instances (all of this project's when None, with its services; their
        data too with `purge`); return how many instances (or, in full, what went)."""
        ...

    async def close(self) -> None:
        """Release what this process holds (forwarders, streams); leaves instances running."""
        ...


@runtime_checkable
class ClusterProvider(Provider, Protocol):
    """A provider whose instances live in a Kubernetes namespace of a cluster it may have created."""

    namespace: str

    async def delete_cluster(self) -> None:
        """Delete the kind cluster devloop created (its registry too)."""
        ...


@runtime_checkable
class EnvReader(Protocol):
    """A provider that reads an instance's environment directly (no shell needed in the image)."""

    async def instance_env(self, instance: InstanceStatus) -> list[str]:
        """The instance's environment as `KEY=value` lines."""
        ...
