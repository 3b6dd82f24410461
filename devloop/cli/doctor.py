"""`devloop doctor`: what `devloop up` needs, each with a verdict and the fix."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import click
import yaml

from devloop.adapters import dockerapi, dockercli, dockersdk
from devloop.cli.context import CliContext, config_options
from devloop.cli.doctor_api import ApiTarget, api_target, latency
from devloop.core.routes import dedicated_port
from devloop.core.spec import DEFAULT_ROUTER_PORT, ProjectSpec
from devloop.core.versions import MIN_KIND, kind_upgrade_hint
from devloop.errors import DevloopError, DockerUnavailableError, ProviderError, ToolMissingError

MIN_FREE_DISK_GB = 2.0
MIN_INOTIFY_WATCHES = 8192


class Verdict(StrEnum):
    PASS = "pass"
    WARN = "warn"
    FAIL = "fail"


@dataclass(frozen=True)
class Check:
    name: str
    verdict: Verdict
    detail: str
    fix: str | None = None

    @property
    def blocks(self) -> bool:
        return self.verdict is Verdict.FAIL

    @property
    def exit_code(self) -> int:
        """The documented code of what blocks (devloop/errors.py): 3 Docker unreachable, 5 a tool
        missing or too old, 6 anything else on the platform (a full disk)."""
        return EXIT_CODES.get(self.name, ProviderError.exit_code)


EXIT_CODES = {
    "docker client": ToolMissingError.exit_code,
    "docker engine": DockerUnavailableError.exit_code,
    "kind": ToolMissingError.exit_code,
}


def exit_code(checks: Iterable[Check]) -> int:
    """0 when nothing blocks `devloop up`, else the code of the first check that does."""
    return next((c.exit_code for c in checks if c.blocks), 0)


def check_docker() -> list[Check]:
    checks: list[Check] = []
    try:
        client = dockercli.detect()
    except DevloopError as exc:
        return [Check("docker client", Verdict.FAIL, str(exc), exc.hint)]
    builder = {
        dockercli.Builder.BUILDX: "BuildKit (buildx)",
        dockercli.Builder.CLASSIC_BUILDKIT: "BuildKit (DOCKER_BUILDKIT=1)",
        dockercli.Builder.LEGACY: "legacy builder",
    }[client.builder]
    checks.append(
        Check(
            "docker client",
            Verdict.PASS if client.buildkit else Verdict.WARN,
            f"{client.path} {client.version_text}, builds with {builder}",
            None if client.buildkit else "install the buildx plugin for faster, cached builds",
        )
    )
    try:
        engine = dockersdk.open_engine(timeout=3)
        version = engine.version().version
        engine.close()
        checks.append(
            Check("docker engine", Verdict.PASS, f"{dockerapi.engine_address()} (engine {version})")
        )
    except DevloopError as exc:
        checks.append(Check("docker engine", Verdict.FAIL, str(exc), exc.hint))
    return checks


def parse_kind_version(text: str) -> tuple[int, int, int] | None:
    match = re.search(r"v(\d+)\.(\d+)\.(\d+)", text)
    return (int(match[1]), int(match[2]), int(match[3])) if match else None


def check_kind(required: bool) -> Check:
    missing = Verdict.FAIL if required else Verdict.WARN
    path = shutil.which("kind")
    if path is None:
        return Check(
            "kind",
            missing,
            "not installed" + ("" if required else " (only needed for provider: kind)"),
            "install kind: https://kind.sigs.k8s.io/docs/user/quick-start/#installation,"
            " or use --provider docker",
        )
    try:
        out = subprocess.run([path, "version"], capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return Check("kind", missing, f"{path} did not answer: {exc}")
    version = parse_kind_version(out.stdout)
    if version is None:
        return Check("kind", missing, f"{path}: cannot read the version from {out.stdout.strip()!r}")
    shown = ".".join(map(str, version))
    if version < MIN_KIND:
        return Check(
            "kind",
            missing,
            f"{path} v{shown} is too old",
            kind_upgrade_hint(),
        )
    return Check("kind", Verdict.PASS, f"{path} v{shown}")


def check_disk(folder: Path) -> Check:
    free_gb = shutil.disk_usage(folder).free / 1024**3
    if free_gb < MIN_FREE_DISK_GB:
        return Check(
            "free disk",
            Verdict.FAIL,
            f"{free_gb:.1f} GB free on {folder}",
            "free some space: `docker system prune` removes unused images and build cache",
        )
    return Check("free disk", Verdict.PASS, f"{free_gb:.1f} GB free on {folder}")


def check_inotify(proc: Path = Path("/proc/sys/fs/inotify/max_user_watches")) -> Check:
    try:
        limit = int(proc.read_text().strip())
    except (OSError, ValueError):
        return Check("inotify watches", Verdict.PASS, "not Linux inotify; nothing to check")
    if limit < MIN_INOTIFY_WATCHES:
        return Check(
            "inotify watches",
            Verdict.WARN,
            f"max_user_watches is {limit}",
            "sudo sysctl fs.inotify.max_user_watches=524288",
        )
    return Check("inotify watches", Verdict.PASS, f"max_user_watches is {limit}")


def port_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def check_ports(ports: Iterable[int]) -> Check:
    wanted = sorted(set(ports))
    taken = [p for p in wanted if not port_free(p)]
    if taken:
        return Check(
            "ports",
            Verdict.WARN,
            "in use on 127.0.0.1: " + ", ".join(map(str, taken)),
            "devloop picks the next free port and says so; stop the other process to keep these",
        )
    return Check("ports", Verdict.PASS, "free on 127.0.0.1: " + ", ".join(map(str, wanted)))


def check_kubeconfig() -> Check:
    paths = [
        Path(p)
        for p in os.environ.get("KUBECONFIG", str(Path.home() / ".kube" / "config")).split(os.pathsep)
        if p
    ]
    contexts: list[str] = []
    current = None
    for path in paths:
        try:
            data = yaml.safe_load(path.read_text()) or {}
        except (OSError, yaml.YAMLError):
            continue
        if isinstance(data, dict):
            contexts += [c.get("name", "?") for c in data.get("contexts") or [] if isinstance(c, dict)]
            current = current or data.get("current-context")
    if not contexts:
        return Check("kubeconfig", Verdict.PASS, "no contexts yet (devloop creates a kind cluster)")
    return Check("kubeconfig", Verdict.PASS, f"contexts: {', '.join(contexts)}; current: {current or 'none'}")


def check_cluster(context: str | None, cluster: str = "devloop") -> Check:
    """The cluster type behind the context and the way images will reach it (from the kubeconfig and
    `docker info` only: no API call, so an unreachable cluster does not stall the doctor)."""
    from devloop.providers.kind.clusters import ClusterType, Detected, detect, kubeconfig_facts
    from devloop.providers.kind.delivery import REGISTRY_HINT, Delivery, Way, engine_image_store

    if context:
        found = detect(kubeconfig_facts(context))
        where = f"context {context} is {found.type}" + (f" ({found.name})" if found.name != context else "")
    else:
        found = Detected(ClusterType.KIND, cluster, False, "")
        where = f"kind cluster {cluster} (no --context: devloop creates or reuses it)"
    plan = Delivery(found, context, containerd_platform=engine_image_store).plan(None)
    told = f"{where}, told by {found.why}" if context else where
    if not plan:
        return Check("cluster", Verdict.WARN, f"{told}; images need a registry", REGISTRY_HINT)
    fallback = f" (fallback: {plan[1]})" if len(plan) > 1 else ""
    first = "" if plan[0] is Way.SHARED else "the cluster's announced registry, else "
    return Check("cluster", Verdict.PASS, f"{told}; images via {first}{plan[0]}{fallback}")


def check_api_latency(target: ApiTarget) -> Check:
    """The API server's median round trip: every apply, log stream and sync goes through it."""
    try:
        found = latency(target)
    except DevloopError as exc:
        return Check("api server", Verdict.WARN, f"{target.where}: {exc}", exc.hint)
    detail = (f"{target.where} at {found.server}: {found.median_ms:.0f} ms median "
              f"over {found.trips} round trips")  # fmt: skip
    if found.slow:
        return Check("api server", Verdict.WARN, detail + " (slow: each save waits several of these)",
                     "a cluster nearer to you, or `devloop up --manual` to deploy less often")  # fmt: skip
    return Check("api server", Verdict.PASS, detail)


def check_images(project: ProjectSpec) -> Check:
    """The space devloop's images take in each store it reaches (a dry-run prune: nothing removed)."""
    from devloop.images.prune import prune, usage_lines
    from devloop.images.reach import reachable_stores

    async def read() -> list[str]:
        stores = await reachable_stores(project)
        apps = [a.name for a in project.apps]
        return usage_lines(await prune(stores, project.keep_images, apps, dry_run=True))

    try:
        lines = asyncio.run(read())
    except DevloopError as exc:
        return Check("image space", Verdict.WARN, f"not readable: {exc}")
    return Check("image space", Verdict.PASS, "; ".join(lines) or "no store reachable")


def run_checks(
    provider: str, ports: Iterable[int], folder: Path, context: str | None = None, cluster: str = "devloop",
    api: ApiTarget | None = None,
) -> list[Check]:  # fmt: skip
    checks = [
        *check_docker(),
        check_kind(required=provider == "kind" and not context),
        check_disk(folder),
        check_inotify(),
        check_ports(ports),
        check_kubeconfig(),
    ]
    if provider == "kind":
        checks.append(check_cluster(context, cluster))
        if api is not None:
            checks.append(check_api_latency(api))
    return checks


@click.command("doctor")
@config_options
def doctor_command(config: CliContext) -> None:
    """Check Docker, kind, disk, inotify, ports and kubeconfig; exit 3, 5 or 6 if `up` cannot work."""
    chosen = "kind" if config.context else config.provider or "kind"
    ports = [DEFAULT_ROUTER_PORT]
    context, cluster = config.context, "devloop"
    if config.exists():  # doctor works without a config, with defaults
        project = config.load()
        chosen, context, cluster = project.provider.value, project.context, project.cluster
        # What devloop listens on: the router's shared port, apps' own ports, services' published ports.
        wanted = [project.router_port, *(dedicated_port(a) for a in project.apps)]
        ports = [p for p in (*wanted, *(s.host_port for s in project.services)) if p is not None]
    checks = run_checks(chosen, ports, Path.cwd(), context, cluster, api_target(context, cluster))
    if config.exists():
        checks.append(check_images(config.load(quiet=True, names_only=True)))
    marks = {Verdict.PASS: "ok  ", Verdict.WARN: "warn", Verdict.FAIL: "FAIL"}
    for check in checks:
        click.echo(f"[{marks[check.verdict]}] {check.name}: {check.detail}")
        if check.fix and check.verdict is not Verdict.PASS:
            click.echo(f"       fix: {check.fix}")
    blocking = [c.name for c in checks if c.blocks]
    if blocking:
        click.echo(f"devloop up cannot work yet: {', '.join(blocking)}", err=True)
        sys.exit(exit_code(checks))
    click.echo(f"ready for devloop up (provider {chosen})")
