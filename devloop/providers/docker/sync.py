"""Running containers changed in place: a sync's files copied in (then the app's restart step), and
`devloop restart`; web's instances one at a time, each out of rotation until it serves again.

An instance that is down (a synced crash, Docker's restart backoff) gets the files too and is
started again, so the next good save heals it; its sidecars follow it into its new network namespace.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable

from devloop.adapters.dockerapi import ContainerInfo
from devloop.core import stages
from devloop.core.changes import SyncCopy
from devloop.core.processes import WEB
from devloop.core.spec import AppSpec
from devloop.errors import DockerConflictError, DockerUnavailableError
from devloop.providers.base import Progress
from devloop.providers.docker.containers import STOP_TIMEOUT_S, Containers
from devloop.providers.docker.labels import (
    address_of,
    instance_label,
    is_down,
    numeric_user,
    process_of,
    sidecar_of,
    sidecars_among,
)
from devloop.providers.docker.rotation import Routing
from devloop.providers.docker.syncagent import FileWrite, SyncAgents, request
from devloop.providers.shared import shell_argv, signal_argv, signal_name, split_sync, wait_serving
from devloop.providers.synctar import sync_archive
from devloop.router.health import check
from devloop.router.router import Router

SERVING_POLL_S = 0.01  # after a sync the app is back within ~50 ms: each poll is one local connect
RESTART_DOWN_EVERY_S = 1.0  # an instance found down while waiting is started again at most this often


class InPlace:
    """Syncs and restarts of one project's running containers."""

    def __init__(
        self, containers: Containers, rotation: Routing, router: Router,
        observe: Callable[[AppSpec], Awaitable[object]],
    ) -> None:  # fmt: skip
        self._containers = containers
        self._call = containers.call
        self._rotation = rotation
        self.router = router
        self._observe = observe  # a snapshot folded into the rotation: after an instance is back
        self._agents: dict[str, SyncAgents] = {}  # by app: a shell per container (syncagent.py)

    def agents(self, app: str) -> SyncAgents:
        if app not in self._agents:
            self._agents[app] = SyncAgents(lambda: self._containers.engine)
        return self._agents[app]

    async def warm(self, app: AppSpec) -> None:
        """The agents of the app's running instances started now, so the first save is fast too."""
        if not app.sync:
            return
        containers = await self._call(self._containers.own, app)
        running = [c.id for c in containers if c.status == "running" and not sidecar_of(c)]
        agents = self.agents(app.name)
        agents.keep_only(set(running))
        await self._call(agents.warm, running)

    def close(self) -> None:
        for agents in self._agents.values():
            agents.close()
        self._agents.clear()

    # --- sync --------------------------------------------------------------------------------------

    async def sync(self, app: AppSpec, copies: tuple[SyncCopy, ...]) -> int:
        """The files into every container of the app (web, other processes, sidecars: one image);
        then the restart step in each running instance, web's one at a time. An instance that is
        down (a synced crash) gets the files and is started again: the next good save heals it."""
        containers = await self._call(self._containers.own, app)
        stages.mark("list")
        self.agents(app.name).keep_only({c.id for c in containers})
        running = [c for c in containers if c.status == "running"]
        present, gone = split_sync(app, copies)
        # Read once for every container (each instance, process type and sidecar gets the same files).
        writes = await asyncio.to_thread(FileWrite.read_all, app.source, present)
        stages.mark("read")
        down = [c for c in containers if is_down(c)]
        for container in running:
            try:
                await self._sync_running(app, container, present, writes, gone)
            except DockerConflictError:  # it crashed since the list; it is down now
                down.append(container)
        for container in down:
            await self._call(self._copy_into, container, app, present)
        await self._start_again(down, containers)
        return len({c.id for c in running + down if not sidecar_of(c)})

    async def _sync_running(
        self, app: AppSpec, container: ContainerInfo, present: list[SyncCopy], writes: list[FileWrite],
        gone: list[str],
    ) -> None:  # fmt: skip
        if app.sync_restart is None or sidecar_of(container) or process_of(container) != WEB:
            restart = app.sync_restart is not None and not sidecar_of(container)
            await self._call(self._sync_into, container, app, present, writes, gone, restart)
            return
        # One instance at a time, out of rotation: the next restarts only once this one serves.
        async with self._out_of_rotation(app, container):
            await self._call(self._sync_into, container, app, present, writes, gone)
            await self._wait_serving(app, container, "a sync")

    async def _start_again(self, down: list[ContainerInfo], containers: list[ContainerInfo]) -> None:
        """Start instances that are down (crashed, or held by Docker's restart backoff) and then
        their sidecars, so they share the new network namespace; routing follows by events."""
        engine = self._containers.engine
        for container in (c for c in down if not sidecar_of(c)):
            await self._call(self._containers.restart, container.id, 0)
            for sidecar in sidecars_among(containers, container.id):
                await self._call(engine.restart, sidecar.id, 0)

    def _copy_into(self, container: ContainerInfo, app: AppSpec, present: list[SyncCopy]) -> None:
        """The files into a container in any state (the archive endpoint needs no process)."""
        if present:
            uid, gid = numeric_user(container.user)
            self._containers.engine.put_archive(container.id, "/", sync_archive(app, present, uid, gid))

    def _sync_into(self, container: ContainerInfo, app: AppSpec, present: list[SyncCopy],
                   writes: list[FileWrite], gone: list[str], restart_step: bool = True) -> None:  # fmt: skip
        """The files in, the removed ones out, then the restart step: through the container's agent
        (one round trip), or the archive endpoint and execs where the agent cannot do it."""
        engine = self._containers.engine
        restart = app.sync_restart if restart_step else None
        signal = signal_name(restart.signal) if restart is not None and restart.signal else None
        asked = request(writes, gone, signal)
        if asked is not None and self.agents(app.name).apply(container.id, *asked):
            stages.mark("copy and signal")
        else:
            self._copy_into(container, app, present)
            if gone:
                engine.exec_output(container.id, ["rm", "-f", "--", *gone], user="0")
            stages.mark("copy")
            if signal:
                self._signal(container, signal)
                stages.mark("signal")
        if restart is not None and restart.command:
            engine.exec_output(container.id, shell_argv(restart.command))
            stages.mark("restart step")

    def _signal(self, container: ContainerInfo, signal: str) -> None:
        """Send `signal` to the app's process from inside the container (`kill` on PID 1, the init
        that passes it on). Docker's kill endpoint would do it too, but Docker 20.10 then counts the
        container as stopped by hand and never restarts it after a later crash."""
        engine = self._containers.engine
        result = engine.exec_output(container.id, signal_argv(signal), user="0")
        if result.exit_code != 0:  # no shell in the image: the endpoint, and a sync heals a crash
            engine.kill(container.id, f"SIG{signal_name(signal)}")

    # --- restart -----------------------------------------------------------------------------------

    async def restart(self, app: AppSpec, progress: Progress) -> int:
        """Every instance of every process, one at a time (web's out of rotation until it serves
        again), each followed by its sidecars so they join its new network namespace. Instances
        that are down (crashed, in Docker's restart backoff) are started again too."""
        containers = await self._call(self._containers.own, app)
        instances = [c for c in containers if not sidecar_of(c) and (c.status == "running" or is_down(c))]
        engine = self._containers.engine
        for container in sorted(instances, key=lambda c: process_of(c) != WEB):
            progress(f"restarting instance {instance_label(container)}")
            sidecars = sidecars_among(containers, container.id)
            ids = {container.id, *(s.id for s in sidecars)}
            self._containers.restarting.update(ids)  # their SIGTERM exit (143) is asked for, not a crash
            try:
                if process_of(container) == WEB:
                    async with self._out_of_rotation(app, container):
                        await self._call(self._containers.restart, container.id, STOP_TIMEOUT_S)
                        await self._wait_serving(app, container, "a restart")
                else:
                    await self._call(self._containers.restart, container.id, STOP_TIMEOUT_S)
                for sidecar in sidecars:
                    await self._call(engine.restart, sidecar.id, STOP_TIMEOUT_S)
            finally:
                self._containers.restarting.difference_update(ids)
        return len(instances)

    # --- one instance out of rotation ----------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def _out_of_rotation(self, app: AppSpec, container: ContainerInfo) -> AsyncIterator[None]:
        """No new requests for `container` and its in-flight ones done, for the duration."""
        try:
            with self._rotation.holding(app.name):
                async with self.router.paused(app.name, address_of(container, app.port), STOP_TIMEOUT_S):
                    yield
        finally:
            with contextlib.suppress(DockerUnavailableError):
                await self._observe(app)  # a restart moved the port: route the live ones

    async def _wait_serving(self, app: AppSpec, container: ContainerInfo, after: str) -> None:
        """Poll the health check until it passes. An instance that went down on the way (the
        app exited on its restart signal, or sits in Docker's backoff) is started again now, with
        the new files, instead of when Docker's backoff ends; down again after that, it crashes
        with these files: the wait ends there (its crash is the instance's state, said as such;
        the next good save heals it) rather than at the health timeout."""
        known, kicked, started_again = [container], [time.monotonic()], [False]

        async def serving() -> bool:
            address = address_of(known[0], app.port)
            if address is not None and await check(app.health, *address):
                return True
            now = known[0] = await self._call(self._containers.get, container.id)  # a restart: a new port
            if is_down(now) and started_again[0]:
                raise _CrashesWithTheseFiles
            if is_down(now) and time.monotonic() - kicked[0] >= RESTART_DOWN_EVERY_S:
                kicked[0], started_again[0] = time.monotonic(), True
                await self._call(self._containers.restart, container.id, 0)
                return False
            moved = address_of(now, app.port)
            if moved is None or moved == address:
                return False  # checked there a moment ago
            return await check(app.health, *moved)

        who, within = f"{app.name}/{instance_label(container)}", app.health.timeout_s
        failure = f"{who} did not serve again within {within}s after {after}"
        try:
            await wait_serving(serving, app.health.timeout_s, SERVING_POLL_S, failure)
        except _CrashesWithTheseFiles:
            return
        stages.mark("serving")


class _CrashesWithTheseFiles(Exception):
    """An instance went down after its restart step, and again once started with the new files."""
