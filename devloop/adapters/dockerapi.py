"""The Docker engine as devloop uses it: a typed `DockerEngine` protocol, its Docker SDK
implementation, and the one place where SDK and connection errors become devloop's errors.

Callers read frozen values (`ContainerInfo`, `EngineVersion`), never SDK objects, so a
fake (tests/fakes/docker.py) stands in for the engine. Every method is blocking: call it
off the event loop. Builds do not go through here (the SDK only drives the legacy
builder); see `devloop.build.builder`.

Errors, mapped once in `_mapped`: an engine that cannot be reached is
DockerUnavailableError; an engine that answers no is DockerRefusedError (its
explanation as the message), DockerNotFoundError when the object is not there.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol, cast

import docker
import docker.errors
import requests.exceptions

from devloop.errors import DockerNotFoundError, DockerRefusedError, DockerUnavailableError

CONNECTION_ERRORS: tuple[type[BaseException], ...] = (
    docker.errors.DockerException,
    requests.exceptions.ConnectionError,
    ConnectionError,
    FileNotFoundError,
)

ProgressEvent = dict[str, object]  # one JSON record of a pull or push stream, as the engine sends it


@dataclass(frozen=True)
class ContainerInfo:
    """What devloop reads of a container: who it is, its state, its labels."""

    id: str
    name: str
    status: str  # created, running, restarting, exited, ...
    labels: Mapping[str, str] = field(default_factory=dict)
    exit_code: int | None = None


@dataclass(frozen=True)
class PortBinding:
    """A container port published on the host (127.0.0.1 only, as devloop publishes them)."""

    container_port: int
    host_port: int
    host_ip: str = "127.0.0.1"


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


@dataclass(frozen=True)
class EngineVersion:
    version: str
    api_version: str


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

    def exec(self, ref: str, argv: Sequence[str]) -> int:
        """Run `argv` inside the running container; its exit code."""
        ...

    def logs(self, ref: str, tail: int) -> tuple[str, ...]:
        """The container's last `tail` output lines."""
        ...

    def put_archive(self, ref: str, path: str, data: bytes) -> None:
        """Unpack a tar archive into the container at `path`."""
        ...

    def network_members(self, name: str) -> frozenset[str]:
        """Names of the containers on the network; DockerNotFoundError when there is no such network."""
        ...

    def connect_network(self, network: str, container: str) -> None: ...

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


@contextlib.contextmanager
def _mapped() -> Iterator[None]:
    """The one place SDK and connection exceptions become devloop's error tree."""
    try:
        yield
    except docker.errors.NotFound as exc:
        raise DockerNotFoundError(str(exc.explanation or exc)) from None
    except docker.errors.APIError as exc:
        raise DockerRefusedError(str(exc.explanation or exc)) from None
    except CONNECTION_ERRORS as exc:
        raise DockerUnavailableError(
            f"the Docker engine at {engine_address()} stopped answering: {describe(exc)}"
        ) from None


def connect(timeout: float = 5.0) -> docker.DockerClient:
    """A raw SDK client that answered a ping, or DockerUnavailableError.

    Only for the providers that still call the SDK themselves; everything else
    takes a DockerEngine from `open_engine`.
    """
    try:
        client = docker.from_env(timeout=timeout)
        client.ping()
    except CONNECTION_ERRORS as exc:
        raise DockerUnavailableError(
            f"cannot reach the Docker engine at {engine_address()}: {describe(exc)}"
        ) from None
    return client


def open_engine(timeout: float = 5.0) -> DockerEngine:
    """The local engine (DOCKER_HOST or the default socket), once it answered a ping."""
    return SdkDockerEngine(connect(timeout))


def as_engine(client: DockerEngine | docker.DockerClient) -> DockerEngine:
    """A DockerEngine for what a provider hands over: the providers still hold raw SDK clients
    (issue 20); once they hold a DockerEngine this wrapper goes."""
    if isinstance(client, docker.DockerClient):
        return SdkDockerEngine(client)
    return cast(DockerEngine, client)


def _container_info(attrs: Mapping[str, object]) -> ContainerInfo:
    state = attrs.get("State")
    config = attrs.get("Config")
    labels = config.get("Labels") if isinstance(config, dict) else None
    code = state.get("ExitCode") if isinstance(state, dict) else None
    return ContainerInfo(
        id=str(attrs.get("Id", "")),
        name=str(attrs.get("Name", "")).lstrip("/"),
        status=str(state.get("Status", "")) if isinstance(state, dict) else "",
        labels={str(k): str(v) for k, v in (labels or {}).items()},
        exit_code=code if isinstance(code, int) else None,
    )


def _summary_info(summary: Mapping[str, object]) -> ContainerInfo:
    names = summary.get("Names")
    labels = summary.get("Labels")
    return ContainerInfo(
        id=str(summary.get("Id", "")),
        name=str(names[0]).lstrip("/") if isinstance(names, list) and names else "",
        status=str(summary.get("State", "")),
        labels={str(k): str(v) for k, v in labels.items()} if isinstance(labels, dict) else {},
    )


def _mapped_stream(records: Iterator[ProgressEvent]) -> Iterator[ProgressEvent]:
    """A streamed answer, its errors mapped as they come (the stream can break halfway)."""
    with _mapped():
        yield from records


class SdkDockerEngine:
    """DockerEngine over a docker-py client (its low-level API: one request per call)."""

    def __init__(self, client: docker.DockerClient) -> None:
        self._client = client
        self._api = client.api

    def ping(self) -> None:
        with _mapped():
            self._api.ping()

    def version(self) -> EngineVersion:
        with _mapped():
            found = self._api.version()
        return EngineVersion(str(found.get("Version", "?")), str(found.get("ApiVersion", "?")))

    def close(self) -> None:
        self._client.close()

    def image_present(self, ref: str) -> bool:
        try:
            with _mapped():
                self._api.inspect_image(ref)
        except DockerNotFoundError:
            return False
        return True

    def repo_digests(self, ref: str) -> tuple[str, ...]:
        with _mapped():
            found = self._api.inspect_image(ref).get("RepoDigests") or []
        return tuple(str(d) for d in found)

    def tag_image(self, image: str, repository: str, tag: str) -> None:
        with _mapped():
            self._api.tag(image, repository, tag)

    def pull(self, repository: str, tag: str) -> Iterator[ProgressEvent]:
        with _mapped():
            records = self._api.pull(repository, tag=tag, stream=True, decode=True)
        return _mapped_stream(records)

    def push(self, repository: str, tag: str) -> Iterator[ProgressEvent]:
        with _mapped():
            records = self._api.push(repository, tag=tag, stream=True, decode=True)
        return _mapped_stream(records)

    def containers(self, labels: Sequence[str]) -> list[ContainerInfo]:
        with _mapped():
            found = self._api.containers(all=True, filters={"label": list(labels)})
        return [_summary_info(s) for s in found]

    def container(self, ref: str) -> ContainerInfo:
        with _mapped():
            return _container_info(self._api.inspect_container(ref))

    def create_container(self, spec: ContainerSpec) -> str:
        api = self._api
        with _mapped():
            host_config = api.create_host_config(
                network_mode=spec.network,
                binds={volume: {"bind": path, "mode": "rw"} for volume, path in spec.volumes} or None,
                port_bindings={f"{p.container_port}/tcp": (p.host_ip, p.host_port) for p in spec.ports},
                restart_policy={"Name": spec.restart_policy} if spec.restart_policy else None,
                init=spec.init or None,
                security_opt=list(spec.security_opt) or None,
            )
            networking = None
            if spec.network is not None and spec.aliases:
                endpoint = api.create_endpoint_config(aliases=list(spec.aliases))
                networking = api.create_networking_config({spec.network: endpoint})
            created = api.create_container(
                spec.image,
                name=spec.name,
                environment=dict(spec.environment) or None,
                command=list(spec.command) if spec.command is not None else None,
                labels=dict(spec.labels),
                ports=[p.container_port for p in spec.ports] or None,
                host_config=host_config,
                networking_config=networking,
                detach=True,
            )
        return str(created["Id"])

    def start(self, ref: str) -> None:
        with _mapped():
            self._api.start(ref)

    def stop(self, ref: str, timeout_s: int) -> None:
        with _mapped():
            self._api.stop(ref, timeout=timeout_s)

    def remove_container(self, ref: str) -> None:
        with _mapped():
            self._api.remove_container(ref, force=True)

    def exec(self, ref: str, argv: Sequence[str]) -> int:
        with _mapped():
            run = self._api.exec_create(ref, list(argv))
            self._api.exec_start(run["Id"])
            code = self._api.exec_inspect(run["Id"]).get("ExitCode")
        return int(code) if isinstance(code, int) else -1

    def logs(self, ref: str, tail: int) -> tuple[str, ...]:
        with _mapped():
            raw = self._api.logs(ref, tail=tail)
        return tuple(raw.decode("utf-8", errors="replace").splitlines()[-tail:])

    def put_archive(self, ref: str, path: str, data: bytes) -> None:
        with _mapped():
            self._api.put_archive(ref, path, data)

    def network_members(self, name: str) -> frozenset[str]:
        with _mapped():
            found = self._api.inspect_network(name)
        members = found.get("Containers") or {}
        return frozenset(str(m.get("Name", "")) for m in members.values())

    def connect_network(self, network: str, container: str) -> None:
        with _mapped():
            self._api.connect_container_to_network(container, network)

    def create_volume(self, name: str, labels: Mapping[str, str]) -> None:
        with _mapped():
            self._api.create_volume(name, labels=dict(labels))

    def volumes(self, labels: Sequence[str]) -> list[str]:
        with _mapped():
            found = self._api.volumes(filters={"label": list(labels)}).get("Volumes") or []
        return [str(v["Name"]) for v in found]

    def remove_volume(self, name: str) -> None:
        with _mapped():
            self._api.remove_volume(name, force=True)
