"""The Docker engine as devloop uses it: a typed `DockerEngine` protocol and the frozen values it
answers with; the Docker SDK implementation is `devloop.adapters.dockersdk`.

Callers read frozen values (`ContainerInfo`, `EngineVersion`, `ContainerEvent`), never SDK
objects, so a fake (tests/fakes/docker.py) stands in for the engine. Every method is
blocking: call it off the event loop. Builds do not go through here (the SDK only drives
the legacy builder); see `devloop.build.builder`.

Errors, mapped once in the SDK implementation: an engine that cannot be reached is
DockerUnavailableError; an engine that answers no is DockerRefusedError (its explanation
as the message), DockerNotFoundError when the object is not there, DockerConflictError
when it is in the wrong state (a container that is not running).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Protocol, TypeVar

ProgressEvent = dict[str, object]  # one JSON record of a pull or push stream, as the engine sends it
EngineRecord = dict[str, object]  # `docker info` as the engine sends it
T_co = TypeVar("T_co", covariant=True)


@dataclass(frozen=True)
class PortBinding:
    """A container port published on the host (127.0.0.1 only, as devloop publishes them)."""

    container_port: int
    host_port: int | None  # None when creating: the engine picks a free one
    host_ip: str = "127.0.0.1"


@dataclass(frozen=True)
class ContainerInfo:
    """What devloop reads of a container: who it is, its state, its labels, how it runs.

    From the list endpoint (`containers`) the fields after `network_mode` keep their
    defaults; an inspect (`container`) fills them all.
    """

    id: str
    name: str
    status: str  # created, running, restarting, exited, ...
    labels: Mapping[str, str] = field(default_factory=dict)
    exit_code: int | None = None
    ports: tuple[PortBinding, ...] = ()  # published tcp ports
    network_mode: str = ""  # the project's network, or `container:<id>`: another's namespace
    networks: tuple[str, ...] = ()  # the networks it is connected to now
    running: bool = False  # State.Running (true while restarting too)
    restarting: bool = False
    restart_count: int = 0
    oom_killed: bool = False
    started_at: str = ""  # RFC 3339, as the engine says it
    memory_bytes: int = 0  # the memory limit; 0: none
    user: str = ""  # Config.User
    env: tuple[str, ...] = ()  # Config.Env, `NAME=value`
    health: str = ""  # State.Health.Status when the image has a HEALTHCHECK


@dataclass(frozen=True)
class ContainerEvent:
    """One container event of the engine's event stream: what happened, to which container."""

    action: str  # start, die, destroy, health_status: healthy, ...
    id: str
    attributes: Mapping[str, str] = field(default_factory=dict)  # its labels, name and image


@dataclass(frozen=True)
class ExecResult:
    exit_code: int
    output: bytes


@dataclass(frozen=True)
class ContainerSpec:
    """A container to create: what the SDK's create_container, host and networking configs take."""

    image: str
    name: str
    labels: Mapping[str, str] = field(default_factory=dict)
    environment: Mapping[str, str] = field(default_factory=dict)
    command: tuple[str, ...] | None = None
    ports: tuple[PortBinding, ...] = ()
    volumes: tuple[tuple[str, str], ...] = ()  # (named volume, path inside), read-write
    network: str | None = None  # None: the engine's default bridge
    aliases: tuple[str, ...] = ()  # names the container answers to on `network`
    restart_policy: str | None = None  # "always", "unless-stopped"
    init: bool = False
    security_opt: tuple[str, ...] = ()
    entrypoint: tuple[str, ...] | None = None
    memory_mb: int | None = None


@dataclass(frozen=True)
class EngineVersion:
    version: str
    api_version: str


@dataclass(frozen=True)
class ImageUsage:
    """One image on the engine as `docker system df` reports it (sizes in bytes)."""

    id: str
    tags: tuple[str, ...]  # repository:tag names
    created: float  # seconds since the epoch
    size: int
    shared_size: int  # of `size`, the bytes other images share (base layers); -1 when unknown
    tagged_at: float = 0.0  # when a tag was last put on it (`Metadata.LastTagTime`); 0: not asked


@dataclass(frozen=True)
class DiskUsage:
    images: tuple[ImageUsage, ...]
    running_image_ids: frozenset[str]  # the images of the containers that run now
    layers_size: int = 0  # bytes all image layers take together (each shared layer once)


def disk_usage(record: Mapping[str, object]) -> DiskUsage:
    """`GET /system/df` as the engine sends it -> DiskUsage."""
    images = tuple(
        ImageUsage(
            id=str(image.get("Id", "")),
            tags=tuple(str(t) for t in _list(image.get("RepoTags")) if t != "<none>:<none>"),
            created=_number(image.get("Created"), 0),
            size=int(_number(image.get("Size"), 0)),
            shared_size=int(_number(image.get("SharedSize"), -1)),
        )
        for image in _records(record.get("Images"))
    )
    running = frozenset(
        str(c.get("ImageID", "")) for c in _records(record.get("Containers")) if c.get("State") == "running"
    )
    return DiskUsage(images, running, int(_number(record.get("LayersSize"), 0)))


def with_tag_times(
    usage: DiskUsage, inspect: Callable[[str], Mapping[str, object]], which: Callable[[ImageUsage], bool]
) -> DiskUsage:
    """`usage` with `tagged_at` filled from an inspect of each image `which` picks: a build's
    `Created` can be its base's (a metadata-only last step, a cache hit), its tag time cannot."""
    images = []
    for image in usage.images:
        if which(image):
            stamp = str(_mapping(inspect(image.id).get("Metadata")).get("LastTagTime") or "")
            image = replace(image, tagged_at=_epoch(stamp))
        images.append(image)
    return replace(usage, images=tuple(images))


def _epoch(stamp: str) -> float:
    try:
        moment = datetime.fromisoformat(stamp).timestamp() if stamp else 0.0
    except ValueError:
        return 0.0
    return max(moment, 0.0)  # "0001-01-01T00:00:00Z": never tagged


def _mapping(value: object) -> Mapping[str, object]:
    return value if isinstance(value, Mapping) else {}


def _number(value: object, default: float) -> float:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else default


def _list(value: object) -> list[object]:
    return list(value) if isinstance(value, list) else []


def _records(value: object) -> list[Mapping[str, object]]:
    return [item for item in value if isinstance(item, Mapping)] if isinstance(value, list) else []


class Stream(Protocol[T_co]):
    """A blocking stream of the engine's answers; `close` from another thread ends a blocked read."""

    def __iter__(self) -> Iterator[T_co]: ...

    def close(self) -> None: ...


class ExecSession(Protocol):
    """A process kept running in a container with its stdin open (blocking): a request written,
    its one-line answer read. DockerConflictError once the process or its container is gone."""

    def send(self, data: bytes) -> None: ...

    def answer(self, timeout_s: float) -> tuple[str, str]:
        """The next line the process prints, and what it printed to stderr meanwhile."""
        ...

    def close(self) -> None: ...


class DockerEngine(Protocol):
    """The operations devloop asks of a Docker engine (all blocking)."""

    def ping(self) -> None: ...

    def version(self) -> EngineVersion: ...

    def close(self) -> None: ...

    def image_present(self, ref: str) -> bool: ...

    def repo_digests(self, ref: str) -> tuple[str, ...]:
        """The image's repository@digest names (empty when it was never pushed or pulled)."""
        ...

    def tag_image(self, image: str, repository: str, tag: str) -> None: ...

    def disk_usage(self, tag_times: Callable[[ImageUsage], bool] | None = None) -> DiskUsage:
        """Every image with its sizes, and which images running containers use (`docker system df`);
        the images `tag_times` picks also with their last tag time (one inspect each)."""
        ...

    def remove_image(self, ref: str) -> None:
        """Untag `ref` (the image goes with its last tag); DockerConflictError when a container uses it."""
        ...

    def pull(self, repository: str, tag: str) -> Iterator[ProgressEvent]:
        """The pull's progress records; an `error` record says the registry refused."""
        ...

    def push(self, repository: str, tag: str) -> Iterator[ProgressEvent]: ...

    def containers(self, labels: Sequence[str]) -> list[ContainerInfo]:
        """Containers in any state carrying every label (`key` or `key=value`)."""
        ...

    def container(self, ref: str) -> ContainerInfo:
        """One container by name or id, as it is now; DockerNotFoundError when gone."""
        ...

    def create_container(self, spec: ContainerSpec) -> str:
        """Create (not start) the container; its id."""
        ...

    def start(self, ref: str) -> None: ...

    def stop(self, ref: str, timeout_s: int) -> None: ...

    def remove_container(self, ref: str) -> None:
        """Remove the container, killing it if it runs."""
        ...

    def restart(self, ref: str, timeout_s: int) -> None: ...

    def kill(self, ref: str, signal: str) -> None: ...

    def set_restart_policy(self, ref: str, policy: str) -> None:
        """Change a created container's restart policy (`no`, `unless-stopped`, ...)."""
        ...

    def exec(self, ref: str, argv: Sequence[str]) -> int:
        """Run `argv` inside the running container; its exit code."""
        ...

    def exec_output(self, ref: str, argv: Sequence[str], user: str | None = None) -> ExecResult:
        """Run `argv` inside the running container (as `user`); its exit code and output.
        DockerConflictError when the container is not running."""
        ...

    def exec_session(self, ref: str, argv: Sequence[str], user: str | None = None) -> ExecSession:
        """Start `argv` in the running container with its stdin open, for many requests."""
        ...

    def logs(self, ref: str, tail: int) -> tuple[str, ...]:
        """The container's last `tail` output lines."""
        ...

    def log_stream(
        self, ref: str, *, follow: bool, since_ns: int | None = None, until_ns: int | None = None,
        tail: int | None = None,
    ) -> Stream[bytes]:  # fmt: skip
        """The container's output as the engine frames it, each line led by its RFC 3339 timestamp;
        `follow`: until the container stops (or `close`)."""
        ...

    def events(self, labels: Sequence[str]) -> Stream[ContainerEvent]:
        """Container events of the containers carrying every label, as they happen; the stream
        ends when the engine closes it."""
        ...

    def image_user(self, ref: str) -> str:
        """The image's `USER` ("" for root); DockerNotFoundError when it is not on the engine."""
        ...

    def info(self) -> EngineRecord:
        """`docker info`: the engine's storage driver, architecture, ..."""
        ...

    def put_archive(self, ref: str, path: str, data: bytes) -> None:
        """Unpack a tar archive into the container at `path`."""
        ...

    def network_members(self, name: str) -> frozenset[str]:
        """Names of the containers on the network; DockerNotFoundError when there is no such network."""
        ...

    def connect_network(self, network: str, container: str, aliases: Sequence[str] = ()) -> None:
        """Join the running `container` to `network`, answering there to `aliases` too."""
        ...

    def disconnect_network(self, network: str, container: str) -> None:
        """Take `container` off `network`: its address and published ports there go."""
        ...

    def network_exists(self, name: str) -> bool: ...

    def create_network(self, name: str, labels: Mapping[str, str]) -> None:
        """A bridge network."""
        ...

    def remove_network(self, name: str) -> None: ...

    def create_volume(self, name: str, labels: Mapping[str, str]) -> None:
        """The named volume, created unless it exists (with the data of an earlier run)."""
        ...

    def volumes(self, labels: Sequence[str]) -> list[str]:
        """Names of the volumes carrying every label."""
        ...

    def remove_volume(self, name: str) -> None: ...


def engine_address() -> str:
    return os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")


def describe(exc: BaseException) -> str:
    """A connection error in plain words."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    markers = ("Connection aborted", "No such file", "Connection refused", "Connection reset", "stream ended")
    if any(marker in text for marker in markers):
        return "the engine is not running or the socket does not exist"
    return text[:200]
