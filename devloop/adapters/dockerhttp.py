"""The DockerEngine for a local engine: its read calls (ping, version, info, list, inspect, images,
a log's backlog) straight over the engine's Unix socket with the standard library, every other call
through the Docker SDK, which is imported and connected on the first such call.

Importing the SDK (requests, urllib3, charset_normalizer) costs ~70 ms, more than `devloop status`,
`logs --recent` or an up-to-date `build` spend on anything else: they only read, so they never pay
it. The answers are the Engine API's own JSON, as the SDK's low-level API hands them back, so both
paths parse them with `dockerrecords`, and errors map into the same tree (`_refusal`, `_lost`).
Only a local engine is read this way (DOCKER_HOST unset or `unix://`); a tcp:// or ssh:// one, with
its TLS settings, is the SDK's alone (`open_engine`).
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import struct
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING
from urllib.parse import quote, urlencode

from devloop.adapters.dockerapi import (
    ContainerEvent,
    ContainerInfo,
    ContainerSpec,
    DiskUsage,
    DockerEngine,
    EngineRecord,
    EngineVersion,
    ExecResult,
    ExecSession,
    ImageUsage,
    ProgressEvent,
    Stream,
    describe,
    engine_address,
)
from devloop.adapters.dockerrecords import as_dict, container_info, summary_info
from devloop.errors import (
    DockerConflictError,
    DockerNotFoundError,
    DockerRefusedError,
    DockerUnavailableError,
)

if TYPE_CHECKING:
    from devloop.adapters.dockersdk import SdkDockerEngine

DEFAULT_SOCKET = "/var/run/docker.sock"
_MULTIPLEXED = "application/vnd.docker.multiplexed-stream"
_RAW = "application/vnd.docker.raw-stream"


def local_socket() -> str | None:
    """The engine's Unix socket, or None when DOCKER_HOST names another kind of engine."""
    host = os.environ.get("DOCKER_HOST", "")
    if not host:
        return DEFAULT_SOCKET
    if host.startswith("unix://") and len(host) > len("unix://"):
        return host[len("unix://") :]
    return None


def open_engine(timeout: float = 5.0) -> DockerEngine:
    """The local engine (DOCKER_HOST or the default socket), once it answered a ping; reads go over
    the socket directly, everything else through the SDK (a remote engine: the SDK for all)."""
    path = local_socket()
    if path is None:
        from devloop.adapters import dockersdk

        return dockersdk.open_engine(timeout)
    engine = HttpDockerEngine(path, timeout)
    try:
        engine.ping()
    except DockerUnavailableError as exc:
        raise DockerUnavailableError(
            f"cannot reach the Docker engine at {engine_address()}: {exc.reason}", reason=exc.reason
        ) from None
    return engine


class _UnixConnection(http.client.HTTPConnection):
    """HTTP/1.1 on a Unix socket: one per request, so threads never share one."""

    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self._path)
        except BaseException:
            sock.close()
            raise
        self.sock = sock


def _lost(exc: BaseException) -> DockerUnavailableError:
    return DockerUnavailableError(
        f"the Docker engine at {engine_address()} stopped answering: {describe(exc)}", reason=describe(exc)
    )


def _refusal(status: int, body: bytes) -> DockerRefusedError:
    """The engine's no, its `message` as the explanation (as the SDK's APIError has it)."""
    try:
        message = str(as_dict(json.loads(body)).get("message") or "")
    except ValueError:
        message = body.decode("utf-8", errors="replace").strip()
    message = message or f"the engine answered HTTP {status}"
    if status == 404:
        return DockerNotFoundError(message)
    if status == 409:
        return DockerConflictError(message)
    return DockerRefusedError(message)


def demultiplexed(body: bytes) -> bytes:
    """A non-TTY container's output without the engine's frame headers (8 bytes: the stream,
    three zero bytes, the payload's length), stdout and stderr in the order written."""
    out = []
    at = 0
    while at + 8 <= len(body):
        kind, size = body[at], struct.unpack(">I", body[at + 4 : at + 8])[0]
        if kind not in (0, 1, 2) or body[at + 1 : at + 4] != b"\0\0\0":
            out.append(body[at:])  # no frame header here: the rest as it came
            return b"".join(out)
        out.append(body[at + 8 : at + 8 + size])
        at += 8 + size
    return b"".join(out)


class _Backlog:
    """A log's backlog read whole: one chunk, nothing to close."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    def __iter__(self) -> Iterator[bytes]:
        yield self._data

    def close(self) -> None:
        pass


def _seconds(ns: int) -> str:
    """Nanoseconds since the epoch as the engine's `since`/`until` take them, exactly."""
    return f"{ns // 1_000_000_000}.{ns % 1_000_000_000:09d}"


class HttpDockerEngine:
    """DockerEngine: reads over the Unix socket at `path`, the rest through the SDK (opened once,
    on the first call that needs it)."""

    def __init__(self, path: str, timeout: float = 5.0) -> None:
        self._path = path
        self._timeout = timeout
        self._sdk_engine: SdkDockerEngine | None = None
        self._sdk_lock = threading.Lock()

    # --- the transport ------------------------------------------------------------------------------

    def _get(self, path: str, query: Mapping[str, str] | None = None) -> tuple[bytes, str]:
        """The body and Content-Type of `GET path?query`; the engine's errors mapped."""
        url = f"{path}?{urlencode(query)}" if query else path
        connection = _UnixConnection(self._path, self._timeout)
        try:
            connection.request("GET", url)
            response = connection.getresponse()
            body = response.read()
        except (OSError, http.client.HTTPException) as exc:
            raise _lost(exc) from None
        finally:
            connection.close()
        if response.status >= 400:
            raise _refusal(response.status, body)
        return body, response.getheader("Content-Type") or ""

    def _json(self, path: str, query: Mapping[str, str] | None = None) -> object:
        body, _ = self._get(path, query)
        try:
            return json.loads(body)
        except ValueError as exc:
            raise _lost(exc) from None

    def _sdk(self) -> SdkDockerEngine:
        with self._sdk_lock:
            if self._sdk_engine is None:
                from devloop.adapters import dockersdk

                self._sdk_engine = dockersdk.open_engine(self._timeout)
            return self._sdk_engine

    # --- reads, over the socket ---------------------------------------------------------------------

    def ping(self) -> None:
        self._get("/_ping")

    def version(self) -> EngineVersion:
        found = as_dict(self._json("/version"))
        return EngineVersion(str(found.get("Version", "?")), str(found.get("ApiVersion", "?")))

    def info(self) -> EngineRecord:
        return dict(as_dict(self._json("/info")))

    def _image(self, ref: str) -> Mapping[str, object]:
        return as_dict(self._json(f"/images/{quote(ref, safe='/:@')}/json"))

    def image_present(self, ref: str) -> bool:
        try:
            self._image(ref)
        except DockerNotFoundError:
            return False
        return True

    def repo_digests(self, ref: str) -> tuple[str, ...]:
        found = self._image(ref).get("RepoDigests")
        return tuple(str(d) for d in found) if isinstance(found, list) else ()

    def image_user(self, ref: str) -> str:
        return str(as_dict(self._image(ref).get("Config")).get("User") or "")

    def containers(self, labels: Sequence[str]) -> list[ContainerInfo]:
        found = self._json("/containers/json", {"all": "1", "filters": json.dumps({"label": list(labels)})})
        return [summary_info(as_dict(s)) for s in found] if isinstance(found, list) else []

    def _inspect(self, ref: str) -> Mapping[str, object]:
        return as_dict(self._json(f"/containers/{quote(ref, safe='')}/json"))

    def container(self, ref: str) -> ContainerInfo:
        return container_info(self._inspect(ref))

    def _output(self, ref: str, query: dict[str, str]) -> bytes:
        """A container's output up to now, its frame headers removed (none for a TTY's)."""
        path = f"/containers/{quote(ref, safe='')}/logs"
        body, kind = self._get(path, {"stdout": "1", "stderr": "1", **query})
        if kind.startswith(_RAW):
            return body
        if kind.startswith(_MULTIPLEXED):
            return demultiplexed(body)
        tty = as_dict(self._inspect(ref).get("Config")).get("Tty")  # an engine under API 1.42 says neither
        return body if tty else demultiplexed(body)

    def logs(self, ref: str, tail: int) -> tuple[str, ...]:
        raw = self._output(ref, {"tail": str(tail)})
        return tuple(raw.decode("utf-8", errors="replace").splitlines()[-tail:])

    def log_stream(
        self, ref: str, *, follow: bool, since_ns: int | None = None, until_ns: int | None = None,
        tail: int | None = None,
    ) -> Stream[bytes]:  # fmt: skip
        if follow:  # a stream held open: the SDK's
            return self._sdk().log_stream(ref, follow=True, since_ns=since_ns, until_ns=until_ns, tail=tail)
        query = {"timestamps": "1", "tail": "all" if tail is None or tail < 0 else str(tail)}
        if since_ns:
            query["since"] = _seconds(since_ns)
        if until_ns:
            query["until"] = _seconds(until_ns)
        return _Backlog(self._output(ref, query) + b"\n")

    def close(self) -> None:
        with self._sdk_lock:
            if self._sdk_engine is not None:
                self._sdk_engine.close()

    # --- everything else, through the SDK -----------------------------------------------------------

    def tag_image(self, image: str, repository: str, tag: str) -> None:
        self._sdk().tag_image(image, repository, tag)

    def disk_usage(self, tag_times: Callable[[ImageUsage], bool] | None = None) -> DiskUsage:
        return self._sdk().disk_usage(tag_times)

    def remove_image(self, ref: str) -> None:
        self._sdk().remove_image(ref)

    def pull(self, repository: str, tag: str) -> Iterator[ProgressEvent]:
        return self._sdk().pull(repository, tag)

    def push(self, repository: str, tag: str) -> Iterator[ProgressEvent]:
        return self._sdk().push(repository, tag)

    def create_container(self, spec: ContainerSpec) -> str:
        return self._sdk().create_container(spec)

    def start(self, ref: str) -> None:
        self._sdk().start(ref)

    def stop(self, ref: str, timeout_s: int) -> None:
        self._sdk().stop(ref, timeout_s)

    def remove_container(self, ref: str) -> None:
        self._sdk().remove_container(ref)

    def restart(self, ref: str, timeout_s: int) -> None:
        self._sdk().restart(ref, timeout_s)

    def kill(self, ref: str, signal: str) -> None:
        self._sdk().kill(ref, signal)

    def set_restart_policy(self, ref: str, policy: str) -> None:
        self._sdk().set_restart_policy(ref, policy)

    def exec(self, ref: str, argv: Sequence[str]) -> int:
        return self._sdk().exec(ref, argv)

    def exec_output(self, ref: str, argv: Sequence[str], user: str | None = None) -> ExecResult:
        return self._sdk().exec_output(ref, argv, user)

    def exec_session(self, ref: str, argv: Sequence[str], user: str | None = None) -> ExecSession:
        return self._sdk().exec_session(ref, argv, user)

    def events(self, labels: Sequence[str]) -> Stream[ContainerEvent]:
        return self._sdk().events(labels)

    def put_archive(self, ref: str, path: str, data: bytes) -> None:
        self._sdk().put_archive(ref, path, data)

    def network_members(self, name: str) -> frozenset[str]:
        return self._sdk().network_members(name)

    def connect_network(self, network: str, container: str, aliases: Sequence[str] = ()) -> None:
        self._sdk().connect_network(network, container, aliases)

    def disconnect_network(self, network: str, container: str) -> None:
        self._sdk().disconnect_network(network, container)

    def network_exists(self, name: str) -> bool:
        return self._sdk().network_exists(name)

    def create_network(self, name: str, labels: Mapping[str, str]) -> None:
        self._sdk().create_network(name, labels)

    def remove_network(self, name: str) -> None:
        self._sdk().remove_network(name)

    def create_volume(self, name: str, labels: Mapping[str, str]) -> None:
        self._sdk().create_volume(name, labels)

    def volumes(self, labels: Sequence[str]) -> list[str]:
        return self._sdk().volumes(labels)

    def remove_volume(self, name: str) -> None:
        self._sdk().remove_volume(name)
