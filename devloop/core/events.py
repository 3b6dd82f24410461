"""Everything that can happen to the engine, as frozen values fed to `reduce`."""

from __future__ import annotations

from dataclasses import dataclass

from devloop.core.changes import SyncCopy
from devloop.core.spec import AppSpec


@dataclass(frozen=True)
class InstanceStatus:
    """One running instance as a provider reports it."""

    app: str
    index: int
    id: str  # container id or pod name
    state: str  # starting | running | crashed | exited | stopping
    healthy: bool = False
    restarts: int = 0
    address: str | None = None  # host:port where this instance answers, if published
    exit_code: int | None = None


@dataclass(frozen=True)
class FilesChanged:
    app: str
    files: frozenset[str]


@dataclass(frozen=True)
class TriggerRequested:
    app: str


@dataclass(frozen=True)
class ScaleRequested:
    app: str
    instances: int
    memory_mb: int | None = None


@dataclass(frozen=True)
class SpecChanged:
    """The config was edited (set-env, a saved devloop.yaml): the app's desired state moved."""

    app: str
    spec: AppSpec


@dataclass(frozen=True)
class ManualModeSet:
    manual: bool


@dataclass(frozen=True)
class BuildStarted:
    app: str


@dataclass(frozen=True)
class BuildSucceeded:
    app: str
    image: str
    duration_s: float
    skipped: bool


@dataclass(frozen=True)
class BuildFailed:
    app: str
    message: str
    lines: tuple[str, ...] = ()


@dataclass(frozen=True)
class BuildCancelled:
    app: str


@dataclass(frozen=True)
class DeployStarted:
    app: str
    image: str


@dataclass(frozen=True)
class DeploySucceeded:
    app: str
    image: str
    url: str | None
    at: float


@dataclass(frozen=True)
class DeployFailed:
    app: str
    image: str
    message: str
    lines: tuple[str, ...] = ()


@dataclass(frozen=True)
class SyncStarted:
    app: str
    copies: tuple[SyncCopy, ...]


@dataclass(frozen=True)
class SyncDone:
    app: str
    files: int


@dataclass(frozen=True)
class SyncFailed:
    app: str
    message: str


@dataclass(frozen=True)
class InstancesChanged:
    app: str
    instances: tuple[InstanceStatus, ...]


@dataclass(frozen=True)
class PlatformReady:
    description: str


@dataclass(frozen=True)
class PlatformFailed:
    message: str
    exit_code: int = 6  # the error's own code (5: a tool is missing)


Event = (
    FilesChanged
    | TriggerRequested
    | ScaleRequested
    | SpecChanged
    | ManualModeSet
    | BuildStarted
    | BuildSucceeded
    | BuildFailed
    | BuildCancelled
    | DeployStarted
    | DeploySucceeded
    | DeployFailed
    | SyncStarted
    | SyncDone
    | SyncFailed
    | InstancesChanged
    | PlatformReady
    | PlatformFailed
)
