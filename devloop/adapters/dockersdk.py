"""The DockerEngine protocol over the Docker SDK (docker-py's low-level API: one request per call),
and the one place where SDK and connection errors become devloop's errors (`_mapped`).

Only this module imports the SDK; everything else takes a DockerEngine (from `open_engine`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Generic, TypeVar

import docker
import docker.errors
import requests.exceptions

from devloop.adapters.dockerapi import (
    ContainerEvent,
    ContainerInfo,
    ContainerSpec,
    DiskUsage,
    EngineRecord,
    EngineVersion,
    ExecResult,
    ImageUsage,
    ProgressEvent,
    describe,
    disk_usage,
    engine_address,
    with_tag_times,
)
from devloop.adapters.dockerexec import SdkExecSession
from devloop.adapters.dockerrecords import as_dict, container_event, container_info, summary_info
from devloop.errors import (
    DockerConflictError,
    DockerNotFoundError,
    DockerRefusedError,
    DockerUnavailableError,
)

CONNECTION_ERRORS: tuple[type[BaseException], ...] = (
    docker.errors.DockerException,
    requests.exceptions.ConnectionError,
    ConnectionError,
    FileNotFoundError,
)
T = TypeVar("T")


@contextlib.contextmanager
def _mapped() -> Iterator[None]:
    """The one place SDK and connection exceptions become devloop's error tree."""
    try:
        yield
    except docker.errors.NotFound as exc:
        raise DockerNotFoundError(str(exc.explanation or exc)) from None
    except docker.errors.APIError as exc:
        if exc.status_code == 409:
            raise DockerConflictError(str(exc.explanation or exc)) from None
        raise DockerRefusedError(str(exc.explanation or exc)) from None
    except CONNECTION_ERRORS as exc:
        raise DockerUnavailableError(
            f"the Docker engine at {engine_address()} stopped answering: {describe(exc)}",
            reason=describe(exc),
        ) from None


def open_engine(timeout: float = 5.0) -> SdkDockerEngine:
    """The local engine (DOCKER_HOST or the default socket), once it answered a ping."""
    try:
        client = docker.from_env(timeout=timeout, max_pool_size=64)
        client.ping()
    except CONNECTION_ERRORS as exc:
        raise DockerUnavailableError(
            f"cannot reach the Docker engine at {engine_address()}: {describe(exc)}", reason=describe(exc)
        ) from None
    return SdkDockerEngine(client)


class _SdkStream(Generic[T]):
    """A streamed answer of the SDK, its errors mapped as they come; `close` closes its socket."""

    def __init__(self, records: Iterator[T], closer: object = None) -> None:
        self._records = records
        self._closer = closer

    def __iter__(self) -> Iterator[T]:
        with _mapped():
            yield from self._records

    def close(self) -> None:
        close = getattr(self._closer, "close", None)
        if callable(close):
            with contextlib.suppress(Exception):
                close()


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

    def disk_usage(self, tag_times: Callable[[ImageUsage], bool] | None = None) -> DiskUsage:
        with _mapped():
            usage = disk_usage(self._api.df())
            return with_tag_times(usage, self._api.inspect_image, tag_times) if tag_times else usage

    def remove_image(self, ref: str) -> None:
        with _mapped():
            self._api.remove_image(ref)

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
        return [summary_info(s) for s in found]

    def container(self, ref: str) -> ContainerInfo:
        with _mapped():
            return container_info(self._api.inspect_container(ref))

    def create_container(self, spec: ContainerSpec) -> str:
        api = self._api
        with _mapped():
            host_config = api.create_host_config(
                network_mode=spec.network,
                binds={volume: {"bind": path, "mode": "rw"} for volume, path in spec.volumes} or None,
                port_bindings={f"{p.container_port}/tcp": (p.host_ip, p.host_port) for p in spec.ports}
                or None,
                restart_policy={"Name": spec.restart_policy} if spec.restart_policy else None,
                init=spec.init or None,
                security_opt=list(spec.security_opt) or None,
                mem_limit=f"{spec.memory_mb}m" if spec.memory_mb else None,
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
                entrypoint=list(spec.entrypoint) if spec.entrypoint is not None else None,
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

    def restart(self, ref: str, timeout_s: int) -> None:
        with _mapped():
            self._api.restart(ref, timeout=timeout_s)

    def kill(self, ref: str, signal: str) -> None:
        with _mapped():
            self._api.kill(ref, signal=signal)

    def set_restart_policy(self, ref: str, policy: str) -> None:
        with _mapped():
            self._api.update_container(ref, restart_policy={"Name": policy})

    def exec_output(self, ref: str, argv: Sequence[str], user: str | None = None) -> ExecResult:
        with _mapped():
            run = self._api.exec_create(ref, list(argv), user=user or "")
            output = self._api.exec_start(run["Id"])
            code = self._api.exec_inspect(run["Id"]).get("ExitCode")
        return ExecResult(int(code) if isinstance(code, int) else -1, output or b"")

    def exec_session(self, ref: str, argv: Sequence[str], user: str | None = None) -> SdkExecSession:
        with _mapped():
            run = self._api.exec_create(ref, list(argv), stdin=True, user=user or "")
            sock = self._api.exec_start(run["Id"], socket=True)
        return SdkExecSession(sock)

    def log_stream(
        self, ref: str, *, follow: bool, since_ns: int | None = None, until_ns: int | None = None,
        tail: int | None = None,
    ) -> _SdkStream[bytes]:  # fmt: skip
        options: dict[str, object] = {"stream": follow, "follow": follow, "timestamps": True}
        if since_ns:
            options["since"] = since_ns / 1e9
        if until_ns:
            options["until"] = until_ns / 1e9
        if tail is not None:
            options["tail"] = tail
        with _mapped():
            if not follow:  # one read of the whole backlog: parsing frame by frame off the socket is slow
                return _SdkStream(iter([self._api.logs(ref, **options) + b"\n"]))
            stream = self._api.logs(ref, **options)
        return _SdkStream(stream, stream)

    def events(self, labels: Sequence[str]) -> _SdkStream[ContainerEvent]:
        with _mapped():
            stream = self._api.events(decode=True, filters={"label": list(labels), "type": "container"})
        return _SdkStream((container_event(record) for record in stream), stream)

    def image_user(self, ref: str) -> str:
        with _mapped():
            config = as_dict(self._api.inspect_image(ref).get("Config"))
        return str(config.get("User") or "")

    def info(self) -> EngineRecord:
        with _mapped():
            return dict(self._api.info())

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

    def connect_network(self, network: str, container: str, aliases: Sequence[str] = ()) -> None:
        with _mapped():
            self._api.connect_container_to_network(container, network, aliases=list(aliases) or None)

    def disconnect_network(self, network: str, container: str) -> None:
        with _mapped():
            self._api.disconnect_container_from_network(container, network)

    def network_exists(self, name: str) -> bool:
        with _mapped():
            return bool(self._api.networks(names=[name]))

    def create_network(self, name: str, labels: Mapping[str, str]) -> None:
        with _mapped():
            self._api.create_network(name, driver="bridge", labels=dict(labels))

    def remove_network(self, name: str) -> None:
        with _mapped():
            for network in self._api.networks(names=[name]):
                self._api.remove_network(network["Id"])

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
