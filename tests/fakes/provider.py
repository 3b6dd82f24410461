"""A provider with no platform behind it, for the engine's tests: instances are records, calls are kept.

A deploy "starts" the app's instances at once (each `running`, published on the
watch stream the engine reads) unless a test holds that app's deploys or scripts
an error with `fail(method, error)`. Everything asked of it is in `calls`.
`_: Provider = FakeProvider()` holds it to the protocol, and `_real_providers`
holds both real providers to the same protocols, so mypy checks all three.

Leniencies: no health checks, no rotation (the router is a real Router that is
never started), no logs unless a test adds them with `say`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from devloop.core.changes import SyncCopy
from devloop.core.events import InstancesChanged, InstanceStatus
from devloop.core.logbuffer import LogLine
from devloop.core.processes import process_types, process_view
from devloop.core.removal import Removed
from devloop.core.services import ServiceSpec
from devloop.core.spec import AppSpec, TaskSpec
from devloop.core.tasks import source_of
from devloop.errors import DevloopError
from devloop.providers.base import ClusterProvider, Deployed, EnvReader, Progress, Provider, TaskOutput
from devloop.router.router import Router

if TYPE_CHECKING:  # only for the check at the bottom: the engine's tests need neither provider
    from devloop.providers.docker.provider import DockerProvider
    from devloop.providers.kind.provider import KindProvider


class FakeProvider:
    name = "fake"

    def __init__(self) -> None:
        self.router = Router(0)
        self.calls: list[tuple[str, str]] = []  # (method, app or "")
        self.deployed: list[tuple[str, str]] = []  # (app, image) of each deploy that finished
        self.synced: list[tuple[str, tuple[SyncCopy, ...]]] = []
        self.restarted: list[str] = []
        self.running: dict[str, tuple[InstanceStatus, ...]] = {}
        self.lines: dict[str, list[LogLine]] = {}  # instance id -> what it printed
        self.closed = False
        self.task_codes: dict[str, int] = {}  # task name -> the exit code its runs end with (default 0)
        self.task_output: dict[str, list[str]] = {}  # task name -> what its runs print
        self.tasks_run: list[tuple[str, str, str]] = []  # (app, task, image) of each task run
        self._errors: dict[str, list[DevloopError]] = {}
        self._held: dict[str, asyncio.Event] = {}
        self._changes: asyncio.Queue[InstancesChanged] | None = None

    # --- scripting --------------------------------------------------------------------------------

    def fail(self, method: str, error: DevloopError, times: int = 1) -> None:
        self._errors.setdefault(method, []).extend([error] * times)

    def hold(self, app: str) -> None:
        """Deploys of `app` wait, once started, until `release(app)`."""
        self._held[app] = asyncio.Event()

    def release(self, app: str) -> None:
        self._held.pop(app).set()

    def called(self, method: str) -> list[str]:
        return [app for name, app in self.calls if name == method]

    def publish(self, change: InstancesChanged) -> None:
        """An instance change, as the platform would report it (a crash, say)."""
        self.running[change.app] = change.instances
        if self._changes is not None:
            self._changes.put_nowait(change)

    def _record(self, method: str, app: str = "") -> None:
        self.calls.append((method, app))
        pending = self._errors.get(method)
        if pending:
            raise pending.pop(0)

    def _instances_of(self, app: AppSpec, image: str) -> tuple[InstanceStatus, ...]:
        found = []
        for process in process_types(app):
            for index in range(process_view(app, process).instances):
                key = f"{app.name}-{process}-{index}-{image}"
                found.append(InstanceStatus(app.name, index, key, "running", healthy=True, process=process))
        return tuple(found)

    # --- Provider ---------------------------------------------------------------------------------

    async def ensure_platform(self, progress: Progress) -> str:
        self._record("ensure_platform")
        progress("the fake platform is ready")
        return "fake platform"

    async def deliver(self, app: AppSpec, image: str, progress: Progress) -> str:
        self._record("deliver", app.name)
        return image

    async def deploy(self, app: AppSpec, image: str, progress: Progress) -> Deployed:
        self._record("deploy", app.name)
        held = self._held.get(app.name)
        if held is not None:
            await held.wait()
        self.deployed.append((app.name, image))
        self.publish(InstancesChanged(app.name, self._instances_of(app, image)))
        return Deployed(None if app.no_route else f"http://{app.name}.localhost:8080")

    async def instances(self, app: AppSpec) -> InstancesChanged:
        self._record("instances", app.name)
        return InstancesChanged(app.name, self.running.get(app.name, ()))

    async def watch_instances(self, apps: list[AppSpec]) -> AsyncIterator[InstancesChanged]:
        self._record("watch_instances")
        self._changes = asyncio.Queue()
        for app in apps:
            yield InstancesChanged(app.name, self.running.get(app.name, ()))
        while True:
            yield await self._changes.get()

    async def tail(
        self, instance: InstanceStatus, since_ns: int | None, *, follow: bool = True, last: int | None = None
    ) -> AsyncIterator[LogLine]:
        self._record("tail", instance.app)
        for line in self.lines.get(instance.id, [])[-(last or 0):]:
            yield line
        if follow:
            await asyncio.Event().wait()  # an instance that prints nothing more, until cancelled

    async def sync(self, app: AppSpec, copies: tuple[SyncCopy, ...]) -> int:
        self._record("sync", app.name)
        self.synced.append((app.name, copies))
        return len(self.running.get(app.name, ()))

    async def restart(self, app: AppSpec, progress: Progress) -> int:
        self._record("restart", app.name)
        self.restarted.append(app.name)
        return len(self.running.get(app.name, ()))

    def shell_argv(self, instance: InstanceStatus, command: str | None = None, tty: bool = True) -> list[str]:
        return ["fake-shell", instance.id, *([command] if command else [])]

    async def current_image(self, app: AppSpec) -> str | None:
        self._record("current_image", app.name)
        return next((image for name, image in reversed(self.deployed) if name == app.name), None)

    async def run_task(
        self, app: AppSpec, image: str, task: TaskSpec, output: TaskOutput, progress: Progress
    ) -> int:
        self._record("run_task", app.name)
        self.tasks_run.append((app.name, task.name, image))
        for text in self.task_output.get(task.name, []):
            output(LogLine(app.name, source_of(task.name), text))
        return self.task_codes.get(task.name, 0)

    async def service_states(self) -> dict[str, str]:
        self._record("service_states")
        return {}

    async def service_password(self, service: ServiceSpec) -> str | None:
        self._record("service_password", service.name)
        return None

    def service_shell_argv(self, service: ServiceSpec, args: tuple[str, ...], tty: bool) -> list[str]:
        return ["fake-shell", service.name, *args]

    async def remove(self, apps: list[AppSpec] | None, purge: bool = False) -> Removed:
        self._record("remove")
        names = [a.name for a in apps] if apps is not None else list(self.running)
        count = sum(len(self.running.pop(name, ())) for name in names)
        return Removed(count)

    async def close(self) -> None:
        self.closed = True


_: Provider = FakeProvider()


def _real_providers(docker: DockerProvider, kind: KindProvider) -> tuple[Provider, ClusterProvider, EnvReader]:
    """Never called: mypy checks here that both real providers satisfy the protocols."""
    return docker, kind, docker
