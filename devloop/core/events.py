"""Everything that can happen to the engine, as frozen values fed to `reduce`."""

from __future__ import annotations

from dataclasses import dataclass

from devloop.core.changes import SyncCopy
from devloop.core.spec import AppSpec
from devloop.core.stages import Stages


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
    process: str = "web"  # its cf process type
    sidecar: str = ""  # set: a sidecar beside instance `index` of `process`, not the process itself
    oom_killed: bool = False  # its last exit was the kernel's out-of-memory kill
    memory_limit_mb: int | None = None  # the limit it runs with, when the platform says
    name: str = ""  # the platform's name for it (container name, pod name), for `logs --container`
    debug: str = ""  # under a debugger: its tool (debugpy, inspector, delve, jdwp)
    debug_address: str | None = None  # host:port a debugger attaches to (the stable forwarded one)

    @property
    def key(self) -> str:
        """Unique per running thing: a pod holds a process and its sidecars under one id."""
        return f"{self.id}/{self.sidecar}" if self.sidecar else self.id

    @property
    def is_web(self) -> bool:
        """An instance of the routed `web` process (not a worker, not a sidecar)."""
        return self.process == "web" and not self.sidecar

    @property
    def qualifier(self) -> str:
        """`` for web, `worker`, `stats` (a web sidecar), `worker/stats`: the log tag's middle."""
        return "/".join(
            part for part in (self.process if self.process != "web" else "", self.sidecar) if part
        )

    @property
    def label(self) -> str:
        """`0`, `worker/0`, `stats/0`: how the user names this instance."""
        return f"{self.qualifier}/{self.index}" if self.qualifier else str(self.index)


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
    process: str = "web"  # cf `scale --process`: another process type's own count


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
    address: str | None = None  # http://127.0.0.1:PORT: the same app for clients that resolve no *.localhost
    stages: Stages = ()  # where a save's time went, from its first file event to serving (none: not a save)


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
    instances: int  # the instances the files went into
    stages: Stages = ()  # where the save's time went, from its first file event to the first instance serving


@dataclass(frozen=True)
class SyncFailed:
    app: str
    message: str


@dataclass(frozen=True)
class InstancesChanged:
    app: str
    instances: tuple[InstanceStatus, ...]


@dataclass(frozen=True)
class Restarted:
    """The user's restart (`devloop restart`, `R`) went through: news for the timeline only."""

    app: str
    instances: int


@dataclass(frozen=True)
class TaskFinished:
    """A task (`devloop task`, a before-start task) ended: news for the timeline only."""

    app: str
    name: str
    exit_code: int


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
    | Restarted
    | TaskFinished
    | PlatformReady
    | PlatformFailed
)
