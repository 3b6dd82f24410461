"""The requests a running `devloop up` takes (from `devloop scale`, the dashboard's keys...) and its
answers, as typed values: the CLI and the UI build them, the engine answers them, and only the
control socket (devloop.engine.control) knows how they travel as JSON."""

from __future__ import annotations

from dataclasses import dataclass

from devloop.core.processes import WEB
from devloop.core.status import AppStatus

# --- requests ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Trigger:
    """Build and deploy the queued changes of these apps now (every app when empty), as in manual mode."""

    apps: tuple[str, ...] = ()


@dataclass(frozen=True)
class Scale:
    """Run `instances` of one process type of an app, and/or give them `memory_mb` (`cf scale`)."""

    app: str
    instances: int | None = None
    memory_mb: int | None = None
    process: str = WEB


@dataclass(frozen=True)
class Restart:
    """Restart an app's instances one at a time (`cf restart`)."""

    app: str


@dataclass(frozen=True)
class Reload:
    """Read the config file again (after `devloop set-env` and friends) and apply what changed."""


@dataclass(frozen=True)
class Status:
    """Every app's status, in config order."""


@dataclass(frozen=True)
class SetManual:
    """Queue changes until triggered (on), or build on every save (off)."""

    on: bool


@dataclass(frozen=True)
class TaskLog:
    """Output of a task `devloop task` runs beside this `devloop up`, for its log stream and history
    (`times_ns` one per line); with `exit_code`, the task ended."""

    app: str
    task: str
    lines: tuple[str, ...] = ()
    times_ns: tuple[int, ...] = ()
    exit_code: int | None = None


@dataclass(frozen=True)
class SetDebug:
    """Run an app under its debugger (on) or not (off), until devloop stops (the dashboard's `d`)."""

    app: str
    on: bool


Request = Trigger | Scale | Restart | Reload | Status | SetManual | TaskLog | SetDebug

# --- answers -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Accepted:
    """Done, or started (a restart, a scale): the log stream says how it goes."""


@dataclass(frozen=True)
class Triggered:
    """The apps whose builds were asked for."""

    apps: tuple[str, ...]


@dataclass(frozen=True)
class Reloaded:
    """The config was read again; these apps changed and are being moved."""

    changed: tuple[str, ...] = ()


@dataclass(frozen=True)
class StatusReport:
    """The answer to `Status`."""

    apps: tuple[AppStatus, ...]


@dataclass(frozen=True)
class Refused:
    """The request cannot be done; `error` says why, in a user's words."""

    error: str


Answer = Accepted | Triggered | Reloaded | StatusReport | Refused
