"""The one model of an app that every part of devloop downstream of config sees.

Both `devloop.yaml` and a Cloud Foundry `manifest.yml` load into these frozen
values, so builders, providers, the engine and `export` never care which file a
setting came from.
"""

from __future__ import annotations

import re
import unicodedata
import zlib
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from devloop.core.pull import PullPolicy
from devloop.core.services import ServiceSpec

DEFAULT_PORT = 8080  # Cloud Foundry's $PORT default
DEFAULT_ROUTER_PORT = 8080  # the shared port of http://APP.localhost:PORT
DEFAULT_HEALTH_TIMEOUT_S = 60  # cf's default `timeout`


class HealthCheckType(StrEnum):
    PORT = "port"
    PROCESS = "process"
    HTTP = "http"


class ProviderKind(StrEnum):
    """Which scheduler the config asks for (the `provider:` key); the interface is providers.base.Provider."""

    KIND = "kind"
    DOCKER = "docker"


class Language(StrEnum):
    PYTHON = "python"
    NODE = "node"
    GO = "go"
    STATIC = "static"
    JAVA = "java"  # a built .jar (cf `path: app.jar`), run on a JRE: devloop does not compile Java


@dataclass(frozen=True)
class HealthCheck:
    type: HealthCheckType = HealthCheckType.PORT
    endpoint: str = "/"
    timeout_s: int = DEFAULT_HEALTH_TIMEOUT_S
    invocation_timeout_s: int = 1
    interval_s: int = 2


@dataclass(frozen=True)
class BuildSpec:
    """How to build an app's image: a Dockerfile, or a generated one for `language`."""

    context: Path
    dockerfile: Path | None = None
    language: Language | None = None
    target: str | None = None
    args: tuple[tuple[str, str], ...] = ()
    # A cf `path:` naming a file (.jar, .war, .zip): what a generated build would start from.
    artifact: Path | None = None
    # Why this app cannot be built yet (an app folder not there, no language devloop can generate
    # for); `validate` and `export` still work, `build` and `up` stop with this reason.
    missing: str | None = None


@dataclass(frozen=True)
class SyncRule:
    """Files under `src` (a glob relative to the app folder) are copied to `dest` in place."""

    src: str
    dest: str


@dataclass(frozen=True)
class SyncRestart:
    """What runs after a sync: a signal to the main process, or a command in the container."""

    signal: str | None = None
    command: str | None = None


@dataclass(frozen=True)
class ProcessSpec:
    """A Cloud Foundry process type (web, worker, ...) run from the app's image."""

    type: str
    command: str | None = None
    instances: int = 1
    memory_mb: int | None = None
    health: HealthCheck = field(default_factory=HealthCheck)


@dataclass(frozen=True)
class SidecarSpec:
    name: str
    command: str
    process_types: tuple[str, ...] = ("web",)
    memory_mb: int | None = None


@dataclass(frozen=True)
class TaskSpec:
    """A one-off process of the app (cf `run-task`); `before_start`: it runs, and must succeed,
    before each new version's instances start (devloop.core.tasks)."""

    name: str
    command: str
    before_start: bool = False
    memory_mb: int | None = None


@dataclass(frozen=True)
class AppSpec:
    name: str
    source: Path
    build: BuildSpec | None = None
    image: str | None = None
    pull: PullPolicy = PullPolicy.MISSING  # for `image`; a build's base images: the builder's own rules
    instances: int = 1
    memory_mb: int | None = None
    disk_mb: int | None = None
    command: str | None = None
    env: tuple[tuple[str, str], ...] = ()
    secret_env: tuple[tuple[str, str], ...] = ()
    port: int = DEFAULT_PORT
    routes: tuple[str, ...] = ()
    host_port: int | None = None  # a router port of its own, besides the shared one
    no_route: bool = False
    random_route: bool = False
    health: HealthCheck = field(default_factory=HealthCheck)
    sync: tuple[SyncRule, ...] = ()
    sync_restart: SyncRestart | None = None
    depends_on: tuple[str, ...] = ()
    manifests: Path | None = None
    services: tuple[str, ...] = ()
    buildpacks: tuple[str, ...] = ()
    processes: tuple[ProcessSpec, ...] = ()
    sidecars: tuple[SidecarSpec, ...] = ()
    # The name as the user wrote it (cf accepts `My App`, `my_app`, `东 程`); `name` is the
    # DNS-safe name containers, Kubernetes objects and hosts use. Empty when they are the same.
    display_name: str = ""
    # cf internal routes (`*.apps.internal`): reachable from the project's other apps only.
    internal_routes: tuple[str, ...] = ()
    tasks: tuple[TaskSpec, ...] = ()
    # Under its runtime's debugger (core.debug): "" off, "on", "wait" (paused until a client attaches).
    debug: str = ""

    @property
    def label(self) -> str:
        """The name to show a person: the one written in the config."""
        return self.display_name or self.name

    @property
    def env_dict(self) -> dict[str, str]:
        return dict(self.env)

    @property
    def secret_names(self) -> frozenset[str]:
        return frozenset(k for k, _ in self.secret_env)


@dataclass(frozen=True)
class Notice:
    """Something the user wrote that devloop records but cannot honour locally."""

    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


@dataclass(frozen=True)
class ProjectSpec:
    file: Path
    apps: tuple[AppSpec, ...]
    provider: ProviderKind = ProviderKind.KIND
    cluster: str = "devloop"
    context: str | None = None
    notices: tuple[Notice, ...] = ()
    router_port: int = DEFAULT_ROUTER_PORT
    services: tuple[ServiceSpec, ...] = ()
    registry: str | None = None  # HOST[:PORT][/PREFIX] to push images to (core.shared_cluster)
    namespace: str | None = None  # the Kubernetes namespace, when the user names it
    keep_images: int = 3  # content tags kept per app in each image store (devloop prune)

    def service(self, name: str) -> ServiceSpec:
        for service in self.services:
            if service.name == name:
                return service
        raise KeyError(name)

    def app(self, name: str) -> AppSpec:
        """The app called `name`: its DNS-safe name or the name written in the config."""
        for app in self.apps:
            if app.name == name:
                return app
        for app in self.apps:
            if app.display_name and app.display_name == name:
                return app
        raise KeyError(name)


_MEMORY_RE = re.compile(r"^\s*(\d+(?:\.\d+)?|\.\d+)\s*(K|KB|KI|KIB|M|MB|MI|MIB|G|GB|GI|GIB|T|TB)?\s*$", re.I)
_UNIT_MB = {"K": 1 / 1024, "M": 1, "G": 1024, "T": 1024 * 1024}


def parse_memory_mb(value: str | int) -> int:
    """Cloud Foundry memory/disk sizes (`256M`, `1G`, `512MB`, `1.2G`, `2g`) in whole megabytes.

    A bare number is megabytes, as in cf; fractions are rounded down as cf does (`1.2G` is 1228).
    Raises ValueError with the accepted forms.
    """
    if isinstance(value, bool):
        raise ValueError(f"invalid size {value!r}: use a number with M or G, e.g. 256M or 1G")
    if isinstance(value, int):
        if value <= 0:
            raise ValueError(f"invalid size {value}: must be positive")
        return value
    match = _MEMORY_RE.match(value)
    if not match:
        raise ValueError(f"invalid size {value!r}: use a number with M or G, e.g. 256M, 1G or 1.5G")
    number = float(match.group(1))
    unit = (match.group(2) or "M")[0].upper()
    mb = int(number * _UNIT_MB[unit])
    if mb <= 0:
        raise ValueError(f"invalid size {value!r}: must be at least 1M")
    return mb


_NAME_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def check_app_name(name: str) -> str:
    """App names become container and Kubernetes names: DNS-1123 labels."""
    if len(name) > 50 or not _NAME_RE.match(name):
        raise ValueError(
            f"invalid app name {name!r}: use lowercase letters, digits and '-', "
            "starting and ending with a letter or digit, at most 50 characters"
        )
    return name


_DNS_MAX = 50  # leaves room for the suffixes devloop adds (`-worker`, `-db-0`) within 63
_NOT_DNS = re.compile(r"[^a-z0-9]+")


def _short_hash(text: str) -> str:
    return f"{zlib.crc32(text.encode('utf-8')):08x}"[:6]


def dns_name(name: str) -> str:
    """A DNS-1035 label (lowercase letter first, letters, digits, '-') for a cf app name.

    Lower case, accents dropped (`Café` -> `cafe`), every other run of characters a '-'.
    A name that keeps no letter or digit (`东 程`) becomes `app-HASH`; one starting with a digit
    gets `app-` in front. The same name always gives the same result.
    """
    folded = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii").lower()
    slug = _NOT_DNS.sub("-", folded).strip("-")
    lost = any(not ch.isascii() and unicodedata.category(ch).startswith(("L", "N")) and
               not unicodedata.normalize("NFKD", ch).encode("ascii", "ignore") for ch in name)  # fmt: skip
    if not slug or lost:
        slug = f"{slug}-{_short_hash(name)}".strip("-") if slug else _short_hash(name)
    if not slug[0].isalpha():
        slug = f"app-{slug}"
    if len(slug) > _DNS_MAX:
        slug = f"{slug[: _DNS_MAX - 7].rstrip('-')}-{_short_hash(name)}"
    return slug


def dns_names(names: list[str]) -> list[str]:
    """`dns_name` of each name, collision-free: names that fold to the same label get a hash.

    A name that is already its own label keeps it; the others of a colliding group get
    `-HASH` of the name as written, so the result depends on no order.
    """
    slugs = [dns_name(n) for n in names]
    out = []
    for name, slug in zip(names, slugs, strict=True):
        if slugs.count(slug) > 1 and name != slug:
            slug = f"{slug[: _DNS_MAX - 7].rstrip('-')}-{_short_hash(name)}"
        out.append(slug)
    return out
