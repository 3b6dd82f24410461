"""Deciding what to start next: a pure function of the engine state."""

from __future__ import annotations

from dataclasses import dataclass

from devloop.core.changes import SyncCopy
from devloop.core.state import AppState, EngineState, Phase

MAX_PARALLEL_BUILDS = 2


@dataclass(frozen=True)
class StartBuild:
    app: str


@dataclass(frozen=True)
class CancelBuild:
    """Files changed while building: the running build is stale."""

    app: str


@dataclass(frozen=True)
class StartDeploy:
    app: str
    image: str


@dataclass(frozen=True)
class StartSync:
    app: str
    copies: tuple[SyncCopy, ...]


Action = StartBuild | CancelBuild | StartDeploy | StartSync


def dependencies_ready(state: EngineState, app: AppState) -> bool:
    for name in app.spec.depends_on:
        dep = state.apps.get(name)
        if dep is None or dep.deployed_image is None or dep.phase is not Phase.RUNNING or dep.deploying:
            return False
    return True


def decide(state: EngineState, max_parallel_builds: int = MAX_PARALLEL_BUILDS) -> list[Action]:
    actions: list[Action] = []
    building = sum(1 for a in state.apps.values() if a.building)
    for name in state.order:
        app = state.apps[name]
        if app.building and app.build_wanted:
            actions.append(CancelBuild(name))
            continue
        if app.build_wanted and not app.building and app.spec.build is not None:
            if building < max_parallel_builds:
                actions.append(StartBuild(name))
                building += 1
            continue
        if not state.platform_ready or app.building or app.deploying or app.syncing:
            continue
        wants_deploy = app.image is not None and (
            app.image not in (app.deployed_image, app.failed_image) or app.redeploy
        )
        if wants_deploy and dependencies_ready(state, app):
            assert app.image is not None
            actions.append(StartDeploy(name, app.image))
        elif app.pending_sync and app.deployed_image is not None and not wants_deploy:
            actions.append(StartSync(name, app.pending_sync))
    return actions
