"""Every error devloop reports to a user, and the exit code each one maps to.

The CLI turns any of these into one line on stderr and its exit code; anything
else escaping is a bug.

    DevloopError                 exit 1   base class
    ├── ConfigError              exit 2   bad devloop.yaml / manifest.yml / vars file (file:line:col)
    ├── UsageError               exit 2   bad command-line arguments or state for the command
    ├── DockerUnavailableError   exit 3   the Docker engine cannot be reached
    ├── BuildError               exit 4   an image build failed (failing step, last lines)
    │   └── BuildContextError    exit 4   context/Dockerfile missing or excluded
    ├── ToolMissingError         exit 5   an external tool (kind, docker) is not installed
    ├── ProviderError            exit 6   the platform refused: container, cluster or API trouble
    │   ├── DeployError          exit 6   a new version never became healthy (its last lines kept)
    │   ├── DockerRefusedError   exit 6   the Docker engine answered with an error (its explanation)
    │   │   ├── DockerNotFoundError  exit 6   ... because the image, container, network or volume is not there
    │   │   └── DockerConflictError  exit 6   ... because it is in the wrong state (a container not running)
    │   └── ImagePullError       exit 6   an image is missing and could not be pulled (name, registry, reason)
    └── WatchError               exit 7   file watching could not start
"""

from __future__ import annotations

import errno
import os
from dataclasses import dataclass


class DevloopError(Exception):
    """Base of all user-facing errors; `str()` is the message shown."""

    exit_code = 1
    hint: str | None = None

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        if hint is not None:
            self.hint = hint

    def render(self) -> str:
        """One line (plus an optional fix) to show the user."""
        text = str(self)
        return f"{text}\n  fix: {self.hint}" if self.hint else text


@dataclass(frozen=True)
class Location:
    """A place in a config file; line and column are 1-based."""

    file: str
    line: int | None = None
    column: int | None = None

    def __str__(self) -> str:
        if self.line is None:
            return self.file
        if self.column is None:
            return f"{self.file}:{self.line}"
        return f"{self.file}:{self.line}:{self.column}"


class ConfigError(DevloopError):
    """A config file that cannot be used, pointing at where the problem is."""

    exit_code = 2

    def __init__(self, location: Location, message: str, *, hint: str | None = None) -> None:
        self.location = location
        self.message = message
        super().__init__(f"{location}: {message}", hint=hint)


class UsageError(DevloopError):
    exit_code = 2


class DockerUnavailableError(DevloopError):
    exit_code = 3

    def __init__(self, message: str, *, hint: str | None = None, reason: str = "") -> None:
        self.reason = reason  # why, in plain words ("the engine is not running ..."), when known
        super().__init__(message, hint=hint or docker_hint())


def docker_hint() -> str:
    """The fix for an engine that does not answer, naming DOCKER_HOST (set or not)."""
    host = os.environ.get("DOCKER_HOST")
    if host:
        return (
            f"start the Docker engine at DOCKER_HOST={host}, or point DOCKER_HOST at one that runs"
            " (unset it for the default socket)"
        )
    return (
        "start the Docker engine (e.g. `sudo systemctl start docker` or Docker Desktop),"
        " or set DOCKER_HOST to one that runs"
    )


class BuildError(DevloopError):
    exit_code = 4

    def __init__(
        self,
        message: str,
        *,
        step: str | None = None,
        last_lines: tuple[str, ...] = (),
        hint: str | None = None,
    ) -> None:
        self.step = step
        self.last_lines = last_lines
        super().__init__(message, hint=hint)


class BuildContextError(BuildError):
    pass


class ToolMissingError(DevloopError):
    exit_code = 5


class ProviderError(DevloopError):
    exit_code = 6


class DeployError(ProviderError):
    """The new version never became healthy; the previous one (if any) keeps serving."""

    def __init__(self, message: str, lines: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.lines = lines


class DockerRefusedError(ProviderError):
    """The Docker engine answered, with an error; the message is the engine's own explanation."""


class DockerNotFoundError(DockerRefusedError):
    """The image, container, network or volume asked for is not on the engine."""


class DockerConflictError(DockerRefusedError):
    """The object is in the wrong state for the request (an exec into a container that stopped)."""


class ImagePullError(ProviderError):
    """An image that is not on this machine and could not be pulled."""


class WatchError(DevloopError):
    exit_code = 7


def describe_failure(exc: BaseException) -> str:
    """One line for an unexpected error, with the fix when it is a known one (a full disk)."""
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        where = f" writing {exc.filename}" if exc.filename else ""
        fix = "free some space (e.g. `docker system prune`), then save again"
        return f"no space left on the device{where}: {fix}"
    if isinstance(exc, OSError) and exc.strerror:
        where = f": {exc.filename}" if exc.filename else ""
        return f"{exc.strerror}{where}"
    return f"{type(exc).__name__}: {exc}"
