"""Which `docker` client to build with, and whether it can use BuildKit.

Two clients can sit on one PATH: a new one (23+) refuses `DOCKER_BUILDKIT=1`
without the buildx plugin, while a classic one (under 23) builds with BuildKit
under that variable. We probe each candidate instead of assuming: a configured
binary if any (`DEVLOOP_DOCKER` or the config), else every `docker` on PATH in
order; the first that can use BuildKit wins, else the first that answers, with
one warning that builds use the legacy builder.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from devloop.errors import ToolMissingError

_VERSION_RE = re.compile(r"version\s+v?(\d+)\.(\d+)(?:\.(\d+))?")


class Builder(StrEnum):
    BUILDX = "buildx"  # `docker buildx build --load`
    CLASSIC_BUILDKIT = "buildkit"  # `DOCKER_BUILDKIT=1 docker build` on a client under 23
    LEGACY = "legacy"  # the deprecated builder: no BuildKit features (COPY --chmod, --secret)


@dataclass(frozen=True)
class DockerClient:
    path: str
    version: tuple[int, int, int]
    builder: Builder

    @property
    def buildkit(self) -> bool:
        return self.builder is not Builder.LEGACY

    @property
    def version_text(self) -> str:
        return ".".join(map(str, self.version))

    def build_argv(self) -> list[str]:
        if self.builder is Builder.BUILDX:
            return [self.path, "buildx", "build", "--load", "--progress=plain"]
        if self.builder is Builder.CLASSIC_BUILDKIT:
            return [self.path, "build", "--progress=plain"]
        return [self.path, "build"]

    def build_env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["DOCKER_BUILDKIT"] = "0" if self.builder is Builder.LEGACY else "1"
        env.setdefault("BUILDKIT_PROGRESS", "plain")
        env.setdefault("DOCKER_CLI_HINTS", "false")
        return env


def _candidates(configured: str | None) -> list[str]:
    if configured:
        found = shutil.which(configured)
        if not found:
            raise ToolMissingError(
                f"the configured docker client {configured!r} was not found",
                hint="set DEVLOOP_DOCKER to a docker executable, or unset it",
            )
        return [found]
    seen: dict[str, str] = {}
    for folder in os.environ.get("PATH", "").split(os.pathsep):
        path = Path(folder or ".") / "docker"
        if path.is_file() and os.access(path, os.X_OK):
            seen.setdefault(str(path.resolve()), str(path))
    return list(seen.values())


def _run(argv: list[str]) -> subprocess.CompletedProcess[str] | None:
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None


def probe(path: str) -> DockerClient | None:
    """The client at `path`, or None if it does not answer `--version`."""
    result = _run([path, "--version"])
    if result is None or result.returncode != 0:
        return None
    match = _VERSION_RE.search(result.stdout)
    if not match:
        return None
    version = (int(match.group(1)), int(match.group(2)), int(match.group(3) or 0))
    buildx = _run([path, "buildx", "version"])
    if buildx is not None and buildx.returncode == 0:
        return DockerClient(path, version, Builder.BUILDX)
    if version[0] < 23:
        return DockerClient(path, version, Builder.CLASSIC_BUILDKIT)
    return DockerClient(path, version, Builder.LEGACY)


def choose(clients: Iterable[DockerClient]) -> DockerClient | None:
    """Prefer the first client that builds with BuildKit, else the first one."""
    listed = list(clients)
    for client in listed:
        if client.buildkit:
            return client
    return listed[0] if listed else None


_cache: dict[str | None, DockerClient] = {}


def detect(configured: str | None = None) -> DockerClient:
    configured = configured or os.environ.get("DEVLOOP_DOCKER") or None
    if configured in _cache:
        return _cache[configured]
    clients = [c for c in (probe(p) for p in _candidates(configured)) if c is not None]
    chosen = choose(clients)
    if chosen is None:
        raise ToolMissingError(
            "no working docker client found on PATH",
            hint="install Docker (e.g. `apt-get install docker.io`) or set DEVLOOP_DOCKER",
        )
    _cache[configured] = chosen
    return chosen
