"""The engine's state and the pure `reduce(state, event) -> state`.

Every front end (the plain printer, the TUI) reads only this. Nothing here does I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum

from devloop.core import events as ev
from devloop.core.changes import Action, SyncCopy, plan_changes
from devloop.core.processes import Scale, record_scale, rescale, scaled
from devloop.core.spec import AppSpec
from devloop.core.wording import without_serving_claim


class Phase(StrEnum):
    """What the user sees in the state column, as in `cf apps`."""

    WAITING = "waiting"  # for the platform or a dependency
    BUILDING = "building"
    DEPLOYING = "deploying"
    RUNNING = "running"
    CRASHED = "crashed"
    FAILED = "failed"  # build or deploy failed; the previous version (if any) keeps serving


@dataclass(frozen=True)
class AppState:
    spec: AppSpec
    phase: Phase = Phase.WAITING
    build_wanted: bool = True  # the first build, or files changed since the last one
    building: bool = False
    deploying: bool = False
    syncing: bool = False
    image: str | None = None  # last good build
    deployed_image: str | None = None  # what the instances run
    failed_image: str | None = None  # last image whose deploy failed
    redeploy: bool = False  # the spec changed (scale): deploy the same image again
    pending_files: frozenset[str] = frozenset()  # changed, not yet acted on (manual mode, or busy)
    pending_sync: tuple[SyncCopy, ...] = ()
    last_error: str | None = None
    error_lines: tuple[str, ...] = ()
    last_build_s: float | None = None
    last_deploy_at: float | None = None
    url: str | None = None
    address: str | None = None  # the app's numeric loopback URL
    instances: tuple[ev.InstanceStatus, ...] = ()
    builds: int = 0
    config_spec: AppSpec | None = None  # the spec as the config file says, once `devloop scale` moved it
    scales: tuple[Scale, ...] = ()  # this session's `devloop scale` overrides, kept across config edits

    @property
    def web(self) -> tuple[ev.InstanceStatus, ...]:
        """The instances of the routed process: what `running`, `crashed` and the 503 page count."""
        return tuple(i for i in self.instances if i.is_web)

    @property
    def running(self) -> int:
        return sum(1 for i in self.web if i.state == "running")

    @property
    def healthy(self) -> bool:
        return self.deployed_image is not None and not self.deploying and self.phase is Phase.RUNNING


@dataclass(frozen=True)
class EngineState:
    apps: dict[str, AppState]
    order: tuple[str, ...]  # config order, for display
    platform_ready: bool = False
    platform: str = ""
    platform_error: str | None = None
    manual: bool = False

    @classmethod
    def initial(cls, specs: tuple[AppSpec, ...], manual: bool = False) -> EngineState:
        apps = {
            s.name: AppState(s) if s.build is not None else AppState(s, build_wanted=False, image=s.image)
            for s in specs
        }
        return cls(apps, tuple(s.name for s in specs), manual=manual)

    def with_app(self, app: AppState) -> EngineState:
        return replace(self, apps={**self.apps, app.spec.name: app})


def reduce(state: EngineState, event: ev.Event) -> EngineState:
    if isinstance(event, ev.PlatformReady):
        return replace(state, platform_ready=True, platform=event.description, platform_error=None)
    if isinstance(event, ev.PlatformFailed):
        return replace(state, platform_error=event.message)
    if isinstance(event, ev.ManualModeSet):
        return replace(state, manual=event.manual)
    app = state.apps.get(getattr(event, "app", ""))
    if app is None:
        return state
    return state.with_app(_reduce_app(app, event, state.manual))


def _reduce_app(app: AppState, event: ev.Event, manual: bool) -> AppState:
    match event:
        case ev.FilesChanged(files=files):
            pending = app.pending_files | files
            if manual:
                return replace(app, pending_files=pending)
            return _take_pending(replace(app, pending_files=pending))
        case ev.TriggerRequested():
            app = replace(app, failed_image=None)  # an explicit trigger retries a failed deploy
            if app.pending_files:
                return _take_pending(app)
            return replace(app, build_wanted=app.spec.build is not None)
        case ev.ScaleRequested(instances=instances, memory_mb=memory_mb, process=process):
            spec = scaled(app.spec, process, max(0, instances), memory_mb)
            scales = record_scale(app.scales, process, max(0, instances), memory_mb)
            return replace(
                app,
                spec=spec,
                config_spec=app.config_spec or app.spec,
                scales=scales,
                redeploy=app.deployed_image is not None,
                failed_image=None,
            )
        case ev.SpecChanged(spec=config):
            spec, scales = rescale(app.config_spec or app.spec, config, app.scales)
            app = replace(app, config_spec=config if scales else None, scales=scales)
            if spec == app.spec:
                return app
            if spec.build != app.spec.build or spec.image != app.spec.image:
                return replace(
                    app, spec=spec, build_wanted=spec.build is not None, image=spec.image or app.image
                )
            return replace(app, spec=spec, redeploy=app.deployed_image is not None, failed_image=None)
        case ev.BuildStarted():
            return replace(app, building=True, build_wanted=False, phase=Phase.BUILDING)
        case ev.BuildSucceeded(image=image, duration_s=took):
            if image == app.failed_image:
                phase = app.phase  # same inputs as the deploy that failed: nothing new to try
            elif image != app.deployed_image:
                phase = Phase.DEPLOYING
            else:
                phase = _settled(app)
            fixed = image == app.deployed_image and phase is not Phase.FAILED
            return replace(
                app,
                building=False,
                image=image,
                last_build_s=took,
                builds=app.builds + 1,
                phase=phase,
                last_error=None if fixed else app.last_error,
                error_lines=() if fixed else app.error_lines,
            )
        case ev.BuildFailed(message=message, lines=lines):
            return replace(app, building=False, phase=Phase.FAILED, last_error=message, error_lines=lines)
        case ev.BuildCancelled():
            return replace(app, building=False, build_wanted=True)
        case ev.DeployStarted():
            return replace(app, deploying=True, redeploy=False, phase=Phase.DEPLOYING)
        case ev.DeploySucceeded(image=image, url=url, at=at, address=address):
            return replace(
                app,
                deploying=False,
                deployed_image=image,
                url=url,
                address=address,
                last_deploy_at=at,
                phase=Phase.RUNNING,
                last_error=None,
                error_lines=(),
            )
        case ev.DeployFailed(image=image, message=message, lines=lines):
            # The previous instances (if any) keep serving; never retry this image by itself.
            return replace(
                app,
                deploying=False,
                failed_image=image,
                phase=Phase.FAILED if app.deployed_image else Phase.CRASHED,
                last_error=message,
                error_lines=lines,
            )
        case ev.SyncStarted():
            return replace(app, syncing=True, pending_sync=())
        case ev.SyncDone():
            return replace(app, syncing=False)
        case ev.SyncFailed(message=message):
            # A failed sync falls back to a rebuild, which always converges: its image is deployed
            # even when it is the one running (the instances may hold half a sync, or be down).
            return replace(app, syncing=False, build_wanted=True, redeploy=app.deployed_image is not None,
                           last_error=message)  # fmt: skip
        case ev.InstancesChanged(instances=instances):
            phase = app.phase
            if app.deployed_image and not app.deploying and not app.building:
                # The app is crashed when its web instances are (a crashing worker is its own
                # instance's state); with no web instance, when every process's are.
                counted = [i for i in instances if i.is_web] or [i for i in instances if not i.sidecar]
                crashed = bool(counted) and all(i.state in ("crashed", "exited") for i in counted)
                phase = Phase.CRASHED if crashed else (Phase.RUNNING if phase is Phase.CRASHED else phase)
            return replace(app, instances=instances, phase=phase)
    return app


def why_not_serving(app: AppState) -> str:
    """What an app with no instance in rotation is doing, for the router's 503 page."""
    error = (app.last_error or "").strip().splitlines()
    detail = f": {without_serving_claim(error[0])[:200]}" if error else ""  # nothing serves: no such claim
    crashed = [i for i in app.web if i.state == "crashed"]
    if app.phase is Phase.CRASHED or (crashed and not app.running):
        codes = [f"instance {i.index} exited with code {i.exit_code}" for i in crashed if i.exit_code]
        return "crashed" + (f" ({'; '.join(codes)})" if codes else detail)
    if app.phase is Phase.FAILED:
        return f"failed{detail}"
    if app.building:
        return "building" if app.deployed_image is None else "building a new version"
    if app.deploying:
        return "deploying"
    if app.phase is Phase.WAITING:
        return "waiting for the platform or a dependency"
    if app.spec.instances == 0:
        return "scaled to 0 instances"
    return "restarting"


def _settled(app: AppState) -> Phase:
    return Phase.RUNNING if app.deployed_image else Phase.WAITING


def _take_pending(app: AppState) -> AppState:
    """Turn pending file changes into a wanted rebuild or a pending sync."""
    plan = plan_changes(app.spec, app.pending_files)
    if plan is None:
        return replace(app, pending_files=frozenset())
    if app.spec.build is None:
        return replace(app, pending_files=frozenset())  # a prebuilt image: nothing to rebuild
    can_sync = plan.action is Action.SYNC and app.deployed_image is not None
    if can_sync and not app.build_wanted and not app.building and not app.deploying:
        return replace(app, pending_files=frozenset(), pending_sync=_merge(app.pending_sync, plan.copies))
    return replace(app, pending_files=frozenset(), build_wanted=True)


def _merge(old: tuple[SyncCopy, ...], new: tuple[SyncCopy, ...]) -> tuple[SyncCopy, ...]:
    seen = {c.rel: c for c in old}
    seen.update({c.rel: c for c in new})
    return tuple(seen.values())
