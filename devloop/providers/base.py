"""The provider interface: turn an app's desired processes into running instances.

The engine drives a provider only through these methods, so it never knows
whether containers or pods run the app.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Protocol

from devloop.core.changes import SyncCopy
from devloop.core.events import InstancesChanged, InstanceStatus
from devloop.core.logbuffer import LogLine
from devloop.core.removal import Removed
from devloop.core.spec import AppSpec
from devloop.errors import DeployError
from devloop.router.router import Router

__all__ = ["DeployError", "Deployed", "Progress", "Provider"]

Progress = Callable[[str], None]


@dataclass(frozen=True)
class Deployed:
    url: str | None
    notice: str | None = None  # e.g. "port 8080 is in use; web is on 8081"


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

    async def remove(self, apps: list[AppSpec] | None, purge: bool = False) -> int | Removed:
        """Remove the apps' instances (all of this project's when None, with its services; their
        data too with `purge`); return how many instances (or, in full, what went)."""
        ...

    async def close(self) -> None:
        """Release what this process holds (forwarders, streams); leaves instances running."""
        ...
