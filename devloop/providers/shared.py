"""What the docker and kind providers do alike, written once: the project's id, the services an app
binds, a sync's split into copies and deletions, the restart step's signal, timestamped log lines,
waiting for an instance to serve again, and the drains that outlive the deploy that began them."""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from pathlib import Path

from devloop.core.changes import SyncCopy
from devloop.core.events import InstanceStatus
from devloop.core.logbuffer import LogLine
from devloop.core.logformat import parse_rfc3339_ns
from devloop.core.services import ServiceSpec
from devloop.core.spec import AppSpec, ProjectSpec
from devloop.core.tasks import source_of
from devloop.errors import DeployError
from devloop.router.rotation import Backend
from devloop.router.router import Router


def project_id(config_file: Path) -> str:
    """Stable per project folder, so a second `devloop up` adopts the first one's instances; it names
    the project's containers, namespace and control socket."""
    resolved = str(config_file.resolve())
    return f"{config_file.resolve().parent.name[:20]}-{hashlib.sha256(resolved.encode()).hexdigest()[:8]}"


def bound_services(project: ProjectSpec, app: AppSpec) -> list[ServiceSpec]:
    """The services `app` binds, in its order; one it names that the project lacks is a deploy error."""
    bound = []
    for name in app.services:
        try:
            bound.append(project.service(name))
        except KeyError:
            raise DeployError(f"{app.name} binds service {name!r}, which is not defined") from None
    return bound


def split_sync(app: AppSpec, copies: Iterable[SyncCopy]) -> tuple[list[SyncCopy], list[str]]:
    """A sync's files still present (to copy in) and the destinations of those gone (to delete)."""
    copies = list(copies)
    present = [c for c in copies if (app.source / c.rel).is_file()]
    gone = [c.dest for c in copies if not (app.source / c.rel).exists()]
    return present, gone


def signal_name(signal: str) -> str:
    """`HUP` for `SIGHUP`, `sighup` or `hup`: the name `kill -NAME` takes."""
    return signal.upper().removeprefix("SIG")


def signal_argv(signal: str) -> list[str]:
    """The restart step's signal sent to PID 1, the container's command (`kill` is a shell builtin)."""
    return ["/bin/sh", "-c", f"kill -{signal_name(signal)} 1"]


def shell_argv(command: str | None) -> list[str]:
    """A shell, or `command` run by one: what `devloop ssh` execs in an instance."""
    return ["/bin/sh", "-c", command] if command else ["/bin/sh"]


def parse_log_line(instance: InstanceStatus, text: str) -> LogLine:
    """A platform log line (`RFC3339-TIMESTAMP message`) as the instance's LogLine; a line without a
    timestamp keeps its whole text and timestamp 0."""
    stamp, _, message = text.partition(" ")
    try:
        ts = parse_rfc3339_ns(stamp)
    except ValueError:
        return LogLine(instance.app, "APP", text, instance.index, instance.id, process=instance.qualifier)
    return LogLine(instance.app, "APP", message, instance.index, instance.id, ts, instance.qualifier)


def task_line(app: str, task: str, text: str, container: str) -> LogLine:
    """A task's output line (`RFC3339-TIMESTAMP message`), tagged `APP/TASK/NAME`."""
    stamp, _, message = text.partition(" ")
    try:
        ts = parse_rfc3339_ns(stamp)
    except ValueError:
        ts, message = time.time_ns(), text
    return LogLine(app, source_of(task), message, container=container, timestamp_ns=ts)


async def wait_serving(
    serving: Callable[[], Awaitable[bool]], timeout_s: float, poll_s: float, failure: str
) -> None:
    """Poll `serving` until it answers True; DeployError(`failure`) once `timeout_s` has passed.
    The first poll waits `poll_s`, so a restart just asked for has taken effect."""
    deadline = time.monotonic() + timeout_s
    await asyncio.sleep(poll_s)
    while True:
        if await serving():
            return
        if time.monotonic() > deadline:
            raise DeployError(failure)
        await asyncio.sleep(poll_s)


async def drain_then(
    router: Router, retired: list[Backend], timeout_s: float, stop: Callable[[], Awaitable[None]]
) -> None:
    """Instances out of rotation finish their in-flight requests (up to `timeout_s`); then `stop`."""
    await router.drain(retired, timeout_s)
    await stop()


class Background:
    """Tasks that outlive the call that began them (drains, health admissions): referenced until they
    end, so none is garbage-collected half way, and awaited or cancelled when the provider closes."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[None]] = set()

    def __len__(self) -> int:
        return len(self._tasks)

    def spawn(self, work: Coroutine[object, object, None]) -> asyncio.Task[None]:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def finish(self) -> None:
        """Wait for every task to end (their errors are theirs: none is raised here)."""
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def cancel(self) -> None:
        """Cancel every task and wait until they have ended."""
        for task in list(self._tasks):
            task.cancel()
        await self.finish()
