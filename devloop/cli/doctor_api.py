"""`devloop doctor`'s look at the Kubernetes API server: which one devloop would talk to, and its
latency over a few round trips (a shared cluster far away makes every apply, log and sync wait)."""

from __future__ import annotations

import asyncio
import os
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

ROUND_TRIPS = 5
CONNECT_S = 2.0  # doctor waits this long for a server that is not answering (connect retries)
SLOW_MS = 250.0  # a save costs several round trips (apply, rollout, port-forward): past this it shows


@dataclass(frozen=True)
class ApiTarget:
    """A kubeconfig context (None: the file's current one) in `kubeconfig` (None: the user's)."""

    where: str
    context: str | None = None
    kubeconfig: Path | None = None


@dataclass(frozen=True)
class Latency:
    server: str
    median_ms: float
    trips: int

    @property
    def slow(self) -> bool:
        return self.median_ms > SLOW_MS


def current_context() -> str | None:
    """The user's kubeconfig's current-context (the first file of $KUBECONFIG that names one)."""
    default = str(Path.home() / ".kube" / "config")
    for path in (Path(p) for p in os.environ.get("KUBECONFIG", default).split(os.pathsep) if p):
        try:
            data = yaml.safe_load(path.read_text()) or {}
        except (OSError, yaml.YAMLError):
            continue
        if isinstance(data, dict) and data.get("current-context"):
            return str(data["current-context"])
    return None


def api_target(context: str | None, cluster: str) -> ApiTarget | None:
    """The API server `devloop up` would use: the context asked for, else devloop's kind cluster
    (when it made one), else the kubeconfig's current context; None when there is none yet."""
    if context:
        return ApiTarget(f"context {context}", context)
    from devloop.providers.kind.cluster import kubeconfig_cache

    cached = kubeconfig_cache() / f"{cluster}.yaml"
    if cached.is_file():
        return ApiTarget(f"kind cluster {cluster}", None, cached)
    current = current_context()
    return ApiTarget(f"context {current} (current)", current) if current else None


async def measure(target: ApiTarget, trips: int = ROUND_TRIPS) -> Latency:
    """`GET /version` `trips` times on one connection; ProviderError when the server is not there."""
    from devloop.adapters.kube import KubeClient

    kube = await KubeClient.connect(target.kubeconfig, target.context, within_s=CONNECT_S)
    try:
        times = []
        for _ in range(trips):
            started = time.perf_counter()
            await kube.request("GET", "", "", base="/version")
            times.append((time.perf_counter() - started) * 1000)
    finally:
        await kube.close()
    return Latency(kube.server, statistics.median(times), trips)


def latency(target: ApiTarget) -> Latency:
    return asyncio.run(measure(target))
