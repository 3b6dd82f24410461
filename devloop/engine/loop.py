"""The engine: one asyncio loop of inputs -> reduce -> decide -> start tasks.

Inputs are events (file batches, build and deploy results, instance updates,
user commands). `reduce` and `decide` are pure (devloop.core); this module only
starts and cancels the work they ask for, as tasks kept in maps keyed by app, so
a newer change cancels the build it supersedes. Nothing here blocks the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Coroutine
from pathlib import Path

from devloop.build.builder import Builder
from devloop.core import events as ev
from devloop.core import stages
from devloop.core.buildlog import BuildOutput
from devloop.core.control import Answer, Refused, Request
from devloop.core.logbuffer import LogBuffer, LogLine
from devloop.core.plan import CancelBuild, StartBuild, StartDeploy, StartSync, decide
from devloop.core.spec import ProjectSpec
from devloop.core.stages import Stopwatch
from devloop.core.state import EngineState, reduce, why_not_serving
from devloop.engine.commands import Commands
from devloop.engine.logmux import LogMux
from devloop.engine.tasks import run_before_start
from devloop.errors import BuildError, DevloopError, ToolMissingError, UsageError, describe_failure
from devloop.providers.base import DeployError, Provider
from devloop.router.router import Router
from devloop.watch.watcher import Watcher

Listener = Callable[[EngineState, ev.Event], None]
RETRY_DELAYS_S = (0.5, 1, 2, 5, 10)


class Engine:
    def __init__(
        self,
        project: ProjectSpec,
        provider: Provider,
        builder: Builder,
        *,
        watch: bool = True,
        manual: bool = False,
        quiet_s: float = 0.2,
        logs: LogBuffer | None = None,
        max_parallel_builds: int = 2,
        reloader: Callable[[], ProjectSpec] | None = None,
        config_files: tuple[Path, ...] | None = None,
        router: Router | None = None,
    ) -> None:
        self.project = project  # as the config says (`devloop scale` overrides live in the state)
        self.reloader = reloader
        if config_files is None:
            config_files = (project.file,) if reloader is not None else ()
        self.provider = provider
        self.builder = builder
        self.state = EngineState.initial(project.apps, manual)
        self.logs = logs or LogBuffer()
        self.mux = LogMux(provider, self.logs)
        self.watcher = Watcher(project.apps, quiet_s=quiet_s, config_files=config_files) if watch else None
        self._instances_task: asyncio.Task[None] | None = None
        self.max_parallel_builds = max_parallel_builds
        self._queue: asyncio.Queue[ev.Event | None] = asyncio.Queue()
        self._listeners: list[Listener] = []
        self.builds: dict[str, asyncio.Task[None]] = {}
        self.deploys: dict[str, asyncio.Task[None]] = {}
        self.syncs: dict[str, asyncio.Task[None]] = {}
        # The timing of a save, from its first file event to serving: handed from the file batch to
        # the build or sync it causes, and from a build to its deploy (`devloop events` shows it).
        self._saves: dict[str, Stopwatch] = {}
        self._built_saves: dict[str, Stopwatch] = {}
        self._inputs: list[asyncio.Task[None]] = []
        self._stopping = False
        self._before_run: list[tuple[Coroutine[object, object, None], str]] = []
        self.commands = Commands(self)
        # The router comes from the composition root (devloop.cli.context), the provider's by default:
        # its access lines and notices join the log stream, and its 503 page says why from our state.
        self.router = router or provider.router
        self.router.on_access = self._access
        self.router.state_of = self._why_not_serving
        self.router.on_notice = self.api

    # --- the outside world talks to the engine through these -------------------------------------

    def subscribe(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def post(self, event: ev.Event) -> None:
        if not self._stopping:
            self._queue.put_nowait(event)

    def stop(self) -> None:
        self._stopping = True
        self._queue.put_nowait(None)

    def command(self, request: Request) -> Answer:
        """A request from the control socket or the dashboard (`devloop trigger`), answered at once."""
        return self.commands.answer(request)

    def spawn(self, work: Coroutine[object, object, None], name: str) -> None:
        """Run `work` beside the loop until it ends or the engine stops (a restart); given before
        `run` outside any event loop, it starts with the loop."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            self._before_run.append((work, name))
            return
        self._inputs.append(asyncio.create_task(work, name=name))

    def drop_unstarted(self) -> None:
        """Work given to `spawn` for a run that never began (devloop stopped before it): closed,
        so none is left unawaited."""
        for work, _name in self._before_run:
            work.close()
        self._before_run.clear()

    def rewatch(self) -> None:
        """Watch the instances again, with the current specs (after a config edit)."""
        if self._instances_task is not None:
            self._instances_task.cancel()
            self._instances_task = asyncio.create_task(self._instances(), name="instances")
            self._inputs.append(self._instances_task)

    async def _config_edits(self) -> None:
        """A saved config file: reload it, as `devloop reload` would."""
        assert self.watcher is not None
        while True:
            await self.watcher.config_changes.get()
            answer = self.commands.reload()
            if isinstance(answer, Refused):
                self.api("devloop", f"config not applied: {answer.error}")

    def shell_argv(self, app: str, index: int) -> list[str] | None:
        """The command that opens a shell in one instance, for the TUI's `x`."""
        for instance in self.state.apps[app].instances:
            if instance.is_web and instance.index == index and instance.state == "running":
                return self.provider.shell_argv(instance)
        return None

    def _access(self, app: str, text: str) -> None:
        """The router's access lines, like Cloud Foundry's [RTR] lines."""
        self.logs.add(LogLine(app, "RTR", text, timestamp_ns=time.time_ns()))

    def _why_not_serving(self, app: str) -> str:
        state = self.state.apps.get(app)
        return why_not_serving(state) if state is not None else "not configured"

    def api(self, app: str, text: str) -> None:
        """devloop's own events in the log stream, like Cloud Foundry's [API] lines."""
        self.logs.add(LogLine(app, "API", text, timestamp_ns=time.time_ns()))

    # --- the loop ----------------------------------------------------------------------------------

    async def run(self) -> None:
        for work, name in self._before_run:
            self._inputs.append(asyncio.create_task(work, name=name))
        self._before_run.clear()
        try:
            self._inputs.append(asyncio.create_task(self._platform(), name="platform"))
            if self.watcher is not None:
                await self.watcher.start()
                self._inputs.append(asyncio.create_task(self._files(), name="files"))
                self._inputs.append(asyncio.create_task(self._watch_notices(), name="watch notices"))
                if self.reloader is not None:
                    self._inputs.append(asyncio.create_task(self._config_edits(), name="config edits"))
            self._act()
            while True:
                event = await self._queue.get()
                if event is None:
                    return
                self._apply(event)
                self._act()
        finally:
            await self._shutdown()

    def _apply(self, event: ev.Event) -> None:
        self.state = reduce(self.state, event)
        if isinstance(event, ev.InstancesChanged):
            self.mux.on_instances(event)
        for listener in self._listeners:
            listener(self.state, event)

    def _act(self) -> None:
        """Start what the planner asks for, applying each start at once so it is not asked twice."""
        for _ in range(100):  # each round changes state; a bound guards against a planner bug
            actions = decide(self.state, self.max_parallel_builds)
            actions = [
                a for a in actions if not (isinstance(a, CancelBuild) and self.builds[a.app].cancelling())
            ]
            if not actions:
                return
            for action in actions:
                if isinstance(action, StartBuild):
                    self._apply(ev.BuildStarted(action.app))
                    save = self._saves.pop(action.app, None)
                    self.builds[action.app] = asyncio.create_task(self._build(action.app, save))
                elif isinstance(action, CancelBuild):
                    self.builds[action.app].cancel()
                elif isinstance(action, StartDeploy):
                    self._apply(ev.DeployStarted(action.app, action.image))
                    save = self._built_saves.pop(action.app, None)
                    deploy = self._deploy(action.app, action.image, save)
                    self.deploys[action.app] = asyncio.create_task(deploy)
                elif isinstance(action, StartSync):
                    self._apply(ev.SyncStarted(action.app, action.copies))
                    sync = self._sync(action, self._saves.pop(action.app, None))
                    self.syncs[action.app] = asyncio.create_task(sync)
            if all(isinstance(a, CancelBuild) for a in actions):
                return

    # --- inputs ------------------------------------------------------------------------------------

    async def _platform(self) -> None:
        for attempt in range(len(RETRY_DELAYS_S) + 1):
            try:
                description = await self.provider.ensure_platform(lambda text: self.api("devloop", text))
            except DevloopError as exc:
                # A missing tool or a wrong argument does not fix itself: no retries for those.
                if attempt == len(RETRY_DELAYS_S) or isinstance(exc, (ToolMissingError, UsageError)):
                    self.post(ev.PlatformFailed(exc.render(), exc.exit_code))
                    return
                self.api("devloop", f"{exc}; retrying in {RETRY_DELAYS_S[attempt]}s")
                await asyncio.sleep(RETRY_DELAYS_S[attempt])  # backoff between attempts
                continue
            self.post(ev.PlatformReady(description))
            self._instances_task = asyncio.create_task(self._instances(), name="instances")
            self._inputs.append(self._instances_task)
            return

    async def _instances(self) -> None:
        failures = 0
        while True:
            try:
                async for change in self.provider.watch_instances(list(self.project.apps)):
                    failures = 0
                    self.post(change)
            except Exception as exc:  # never lose the instance watch: report, back off, watch again
                delay = RETRY_DELAYS_S[min(failures, len(RETRY_DELAYS_S) - 1)]
                failures += 1
                self.api("devloop", f"{exc}; watching again in {delay}s")
                await asyncio.sleep(delay)  # backoff while the platform is away

    async def _files(self) -> None:
        assert self.watcher is not None
        while True:
            batch = await self.watcher.batches.get()
            save = Stopwatch(batch.first_seen or None)
            save.mark("debounce")
            self._saves[batch.app] = save
            self.post(ev.FilesChanged(batch.app, batch.files))

    async def _watch_notices(self) -> None:
        assert self.watcher is not None
        while True:
            self.api("devloop", await self.watcher.notices.get())

    # --- work --------------------------------------------------------------------------------------

    def _build_output(self, out: BuildOutput) -> None:
        if out.kind == "detail":
            return
        text = f"warning: {out.text}" if out.kind == "warning" else out.text
        self.logs.add(LogLine(out.app, "STG", text, timestamp_ns=time.time_ns()))

    async def _build(self, name: str, save: Stopwatch | None = None) -> None:
        spec = self.state.apps[name].spec
        try:
            with stages.timing(save):
                result = await self.builder.build(spec, self._build_output)
        except asyncio.CancelledError:
            self.post(ev.BuildCancelled(name))
            raise
        except BuildError as exc:
            self.post(ev.BuildFailed(name, str(exc), exc.last_lines))
        except DevloopError as exc:
            self.post(ev.BuildFailed(name, exc.render()))
        except Exception as exc:  # a full disk, an engine error: one message, and the loop goes on
            self.post(ev.BuildFailed(name, describe_failure(exc)))
        else:
            if save is not None and not result.skipped:
                save.mark("build")
                self._built_saves[name] = save
            self.post(ev.BuildSucceeded(name, result.image, result.duration_s, result.skipped))
        finally:
            if self.builds.get(name) is asyncio.current_task():
                del self.builds[name]

    async def _deploy(self, name: str, image: str, save: Stopwatch | None = None) -> None:
        spec = self.state.apps[name].spec  # scaling changes it at run time

        def progress(text: str) -> None:
            self.api(name, text)

        try:
            with stages.timing(save):
                ref = await self.provider.deliver(spec, image, progress)
                stages.mark("deliver")
                if image != self.state.apps[name].deployed_image:  # a new version: not a scale or an env edit
                    await run_before_start(self, spec, ref, progress)  # migrations: they hold it until done
                    stages.mark("tasks")
                deployed = await self.provider.deploy(spec, ref, progress)
        except DeployError as exc:
            self.post(ev.DeployFailed(name, image, str(exc), exc.lines))
        except DevloopError as exc:
            self.post(ev.DeployFailed(name, image, exc.render()))
        except Exception as exc:  # never a silent stuck deploy: say what broke; the next save retries
            self.post(ev.DeployFailed(name, image, describe_failure(exc)))
        else:
            if deployed.notice:
                self.api(name, deployed.notice)
            timed = save.stages() if save is not None else ()
            address = self.router.address(spec)
            self.post(ev.DeploySucceeded(name, image, deployed.url, time.time(), address, timed))
        finally:
            if self.deploys.get(name) is asyncio.current_task():
                del self.deploys[name]

    async def _sync(self, action: StartSync, save: Stopwatch | None = None) -> None:
        spec = self.state.apps[action.app].spec
        try:
            with stages.timing(save):
                stages.mark("queued")
                count = await self.provider.sync(spec, action.copies)
        except DevloopError as exc:
            self.post(ev.SyncFailed(action.app, exc.render()))
        except Exception as exc:  # a sync that fails for any reason falls back to a rebuild
            self.post(ev.SyncFailed(action.app, f"sync failed: {describe_failure(exc)}"))
        else:
            self.post(ev.SyncDone(action.app, count, save.stages() if save is not None else ()))
        finally:
            if self.syncs.get(action.app) is asyncio.current_task():
                del self.syncs[action.app]

    # --- shutdown ----------------------------------------------------------------------------------

    async def _shutdown(self) -> None:
        """Stop inputs, cancel builds and syncs, stop log tails; deploys finish or are cancelled."""
        self._stopping = True
        if self.watcher is not None:
            await self.watcher.stop()
        tasks = [*self._inputs, *self.builds.values(), *self.syncs.values(), *self.deploys.values()]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await self.mux.close()
