"""A Docker engine in memory, beside the DockerEngine protocol, so its callers are tested without one.

It records every call (`calls`), keeps the images, containers, networks and volumes
it was given or asked to make, and raises what a test scripts with `fail(...)`: a
DockerUnavailableError for an engine that went away, DockerRefusedError or
DockerNotFoundError for one that says no, the same errors the SDK implementation
maps to. `_: DockerEngine = FakeDockerEngine()` at the bottom makes mypy hold the
two together.

Leniencies: containers change state only when told (`start` runs one at once, no
process exits by itself unless `exit(...)` says so); labels filter as `key` or
`key=value` only; pull and push succeed with a short stream unless scripted.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TypeVar

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
    PortBinding,
    ProgressEvent,
)
from devloop.errors import DevloopError, DockerConflictError, DockerNotFoundError, DockerRefusedError

T = TypeVar("T")


@dataclass
class FakeContainer:
    info: ContainerInfo
    spec: ContainerSpec | None = None  # None: put there by the test, not created through the engine
    logs: tuple[str, ...] = ()
    archives: list[tuple[str, bytes]] = field(default_factory=list)  # (path, tar) put into it


class FakeStream(Iterator[T]):
    """The scripted items, then (unless `ends`) blocked until `close` or `release` (the engine closing it)."""

    def __init__(self, items: Sequence[T], release: threading.Event, ends: bool = False) -> None:
        self._items = iter(list(items))
        self._release = release
        self._ends = ends
        self.closed = False

    def __iter__(self) -> Iterator[T]:
        return self

    def __next__(self) -> T:
        for item in self._items:
            return item
        if not self._ends:
            self._release.wait(10)
        raise StopIteration

    def close(self) -> None:
        self.closed = True
        self._release.set()


def _matches(labels: Mapping[str, str], wanted: Sequence[str]) -> bool:
    for want in wanted:
        key, eq, value = want.partition("=")
        if key not in labels or (eq and labels[key] != value):
            return False
    return True


class FakeDockerEngine:
    def __init__(self, images: Sequence[str] = (), version: str = "27.0.0") -> None:
        self.images: set[str] = set(images)
        self.usage: dict[str, ImageUsage] = {}  # image id -> what `disk_usage` reports (scripted)
        self.running_image_ids: set[str] = set()  # the images `disk_usage` says containers run
        self.digests: dict[str, tuple[str, ...]] = {}
        self.tags: list[tuple[str, str, str]] = []
        self.containers_by_id: dict[str, FakeContainer] = {}
        self.networks: dict[str, set[str]] = {}
        self.aliases: dict[tuple[str, str], tuple[str, ...]] = {}  # (network, container) -> its aliases
        self.volume_labels: dict[str, dict[str, str]] = {}
        self.pull_streams: dict[str, list[ProgressEvent]] = {}  # "repo:tag" -> what its pull says
        self.push_streams: dict[str, list[ProgressEvent]] = {}
        self.exec_codes: list[int] = []  # exit codes of the next execs (then 0)
        self.scripted_events: list[ContainerEvent] = []  # what `events` streams, then it waits
        self.events_end = threading.Event()  # set: the engine closes the event stream
        self.log_chunks: dict[str, list[bytes]] = {}  # container id -> its framed output
        self.image_users: dict[str, str] = {}
        self.image_labels: dict[str, dict[str, str]] = {}  # image -> its LABELs, which containers inherit
        self.engine_info: EngineRecord = {"DriverStatus": [], "Architecture": "x86_64"}
        self.calls: list[tuple[str, tuple[object, ...]]] = []
        self.closed = False
        self._version = version
        self._errors: dict[str, list[DevloopError]] = {}
        self._ids = itertools.count(1)
        self._host_ports = itertools.count(32768)

    # --- scripting --------------------------------------------------------------------------------

    def fail(self, method: str, error: DevloopError, times: int = 1) -> None:
        """The next `times` calls of `method` raise `error`."""
        self._errors.setdefault(method, []).extend([error] * times)

    def add_container(self, name: str, status: str = "running", labels: Mapping[str, str] | None = None,
                      logs: tuple[str, ...] = ()) -> ContainerInfo:  # fmt: skip
        info = ContainerInfo(f"id-{next(self._ids)}", name, status, dict(labels or {}))
        self.containers_by_id[info.id] = FakeContainer(info, logs=logs)
        return info

    def exit(self, ref: str, code: int) -> None:
        """The container's process ends with `code`."""
        found = self._find(ref)
        found.info = replace(found.info, status="exited", running=False, exit_code=code)

    def named(self, name: str) -> FakeContainer:
        return self._find(name)

    def called(self, method: str) -> list[tuple[object, ...]]:
        return [args for name, args in self.calls if name == method]

    def _record(self, method: str, *args: object) -> None:
        self.calls.append((method, args))
        pending = self._errors.get(method)
        if pending:
            raise pending.pop(0)

    def _find(self, ref: str) -> FakeContainer:
        for found in self.containers_by_id.values():
            if ref in (found.info.id, found.info.name):
                return found
        raise DockerNotFoundError(f"No such container: {ref}")

    # --- DockerEngine -----------------------------------------------------------------------------

    def ping(self) -> None:
        self._record("ping")

    def version(self) -> EngineVersion:
        self._record("version")
        return EngineVersion(self._version, "1.46")

    def close(self) -> None:
        self.closed = True

    def image_present(self, ref: str) -> bool:
        self._record("image_present", ref)
        return ref in self.images

    def repo_digests(self, ref: str) -> tuple[str, ...]:
        self._record("repo_digests", ref)
        if ref not in self.images:
            raise DockerNotFoundError(f"No such image: {ref}")
        return self.digests.get(ref, ())

    def tag_image(self, image: str, repository: str, tag: str) -> None:
        self._record("tag_image", image, repository, tag)
        if image not in self.images:
            raise DockerNotFoundError(f"No such image: {image}")
        self.tags.append((image, repository, tag))
        self.images.add(f"{repository}:{tag}")

    def disk_usage(self, tag_times: Callable[[ImageUsage], bool] | None = None) -> DiskUsage:
        self._record("disk_usage")  # `tagged_at` as scripted in `usage`
        return DiskUsage(tuple(self.usage.values()), frozenset(self.running_image_ids))

    def remove_image(self, ref: str) -> None:
        self._record("remove_image", ref)
        for image_id, usage in list(self.usage.items()):
            if ref in usage.tags:
                left = tuple(t for t in usage.tags if t != ref)
                if left:
                    self.usage[image_id] = replace(usage, tags=left)
                else:
                    del self.usage[image_id]
                self.images.discard(ref)
                return
        raise DockerNotFoundError(f"No such image: {ref}")

    def pull(self, repository: str, tag: str) -> Iterator[ProgressEvent]:
        self._record("pull", repository, tag)
        ref = f"{repository}:{tag}"
        events = self.pull_streams.get(ref)
        if events is None:
            events = [{"status": f"Pulling from {repository}", "id": tag},
                      {"status": "Pull complete", "id": "layer1", "progressDetail": {}}]  # fmt: skip
        if not any("error" in e for e in events):
            self.images.add(ref)
        return iter(list(events))

    def push(self, repository: str, tag: str) -> Iterator[ProgressEvent]:
        self._record("push", repository, tag)
        events = self.push_streams.get(f"{repository}:{tag}")
        return iter(list(events if events is not None else [{"status": "Pushed", "id": "layer1"}]))

    def containers(self, labels: Sequence[str]) -> list[ContainerInfo]:
        self._record("containers", tuple(labels))
        return [self._seen(c) for c in self.containers_by_id.values() if _matches(c.info.labels, labels)]

    def container(self, ref: str) -> ContainerInfo:
        self._record("container", ref)
        return self._seen(self._find(ref))

    def _seen(self, found: FakeContainer) -> ContainerInfo:
        """The container as the engine reports it: with the networks it is on now."""
        on = tuple(sorted(n for n, members in self.networks.items() if found.info.name in members))
        return replace(found.info, networks=on)

    def create_container(self, spec: ContainerSpec) -> str:
        self._record("create_container", spec)
        if spec.image not in self.images:
            raise DockerNotFoundError(f"No such image: {spec.image}")
        if any(c.info.name == spec.name for c in self.containers_by_id.values()):
            raise DockerRefusedError(f'Conflict. The container name "/{spec.name}" is already in use')
        joined = spec.network is not None and spec.network.startswith("container:")
        if joined and spec.ports:  # Docker's words (daemon/create.go)
            raise DockerRefusedError("conflicting options: port publishing and the container type network mode")
        ports = self._published(spec)
        labels = {**self.image_labels.get(spec.image, {}), **spec.labels}  # the image's LABELs, then its own
        info = ContainerInfo(f"id-{next(self._ids)}", spec.name, "created", labels, ports=ports,
                             network_mode=spec.network or "default")  # fmt: skip
        self.containers_by_id[info.id] = FakeContainer(info, spec)
        if spec.network is not None and not joined:
            self.networks.setdefault(spec.network, set()).add(spec.name)
            if spec.aliases:
                self.aliases[(spec.network, spec.name)] = tuple(spec.aliases)
        return info.id

    def _published(self, spec: ContainerSpec) -> tuple[PortBinding, ...]:
        """Host ports as Docker picks them: a fresh one each time a port is published."""
        return tuple(replace(p, host_port=p.host_port or next(self._host_ports)) for p in spec.ports)

    def start(self, ref: str) -> None:
        self._record("start", ref)
        found = self._find(ref)
        if found.info.network_mode.startswith("container:"):  # Docker's words (getNetworkedContainer)
            other = self._find(found.info.network_mode.removeprefix("container:"))
            if not other.info.running:
                raise DockerConflictError(f"cannot join network of a non running container: {other.info.id}")
        found.info = replace(found.info, status="running", running=True, exit_code=None)

    def stop(self, ref: str, timeout_s: int) -> None:
        self._record("stop", ref, timeout_s)
        found = self._find(ref)
        found.info = replace(found.info, status="exited", running=False, exit_code=0)

    def remove_container(self, ref: str) -> None:
        self._record("remove_container", ref)
        found = self._find(ref)
        del self.containers_by_id[found.info.id]
        for members in self.networks.values():
            members.discard(found.info.name)

    def restart(self, ref: str, timeout_s: int) -> None:
        self._record("restart", ref, timeout_s)
        found = self._find(ref)
        found.info = replace(found.info, status="running", running=True, restarting=False, exit_code=None,
                             restart_count=found.info.restart_count)  # fmt: skip

    def kill(self, ref: str, signal: str) -> None:
        self._record("kill", ref, signal)
        self._find(ref)

    def set_restart_policy(self, ref: str, policy: str) -> None:
        self._record("set_restart_policy", ref, policy)
        self._find(ref)

    def exec(self, ref: str, argv: Sequence[str]) -> int:
        self._record("exec", ref, tuple(argv))
        if self._find(ref).info.status != "running":
            raise DockerConflictError(f"Container {ref} is not running")
        return self.exec_codes.pop(0) if self.exec_codes else 0

    def exec_output(self, ref: str, argv: Sequence[str], user: str | None = None) -> ExecResult:
        self._record("exec_output", ref, tuple(argv), user)
        if self._find(ref).info.status != "running":
            raise DockerConflictError(f"Container {ref} is not running")
        return ExecResult(self.exec_codes.pop(0) if self.exec_codes else 0, b"")

    def exec_session(self, ref: str, argv: Sequence[str], user: str | None = None) -> ExecSession:
        """Refused, as the engine refuses an exec in a stopped container: callers fall back to
        the archive endpoint and one exec per step, which this fake records."""
        self._record("exec_session", ref, tuple(argv), user)
        raise DockerConflictError(f"Container {ref}: exec sessions are not modelled by this fake")

    def log_stream(
        self, ref: str, *, follow: bool, since_ns: int | None = None, until_ns: int | None = None,
        tail: int | None = None,
    ) -> FakeStream[bytes]:  # fmt: skip
        self._record("log_stream", ref, follow, since_ns, until_ns, tail)
        chunks = self.log_chunks.get(ref)
        if chunks is None:
            raise DockerNotFoundError(f"No such container: {ref}")
        return FakeStream(chunks if follow else [b"".join(chunks) + b"\n"], threading.Event(), ends=True)

    def events(self, labels: Sequence[str]) -> FakeStream[ContainerEvent]:
        self._record("events", tuple(labels))
        return FakeStream(self.scripted_events, self.events_end)

    def image_user(self, ref: str) -> str:
        self._record("image_user", ref)
        if ref not in self.images:
            raise DockerNotFoundError(f"No such image: {ref}")
        return self.image_users.get(ref, "")

    def info(self) -> EngineRecord:
        self._record("info")
        return dict(self.engine_info)

    def logs(self, ref: str, tail: int) -> tuple[str, ...]:
        self._record("logs", ref, tail)
        return self._find(ref).logs[-tail:]

    def put_archive(self, ref: str, path: str, data: bytes) -> None:
        self._record("put_archive", ref, path, data)
        self._find(ref).archives.append((path, data))

    def network_members(self, name: str) -> frozenset[str]:
        self._record("network_members", name)
        if name not in self.networks:
            raise DockerNotFoundError(f"network {name} not found")
        return frozenset(self.networks[name])

    def connect_network(self, network: str, container: str, aliases: Sequence[str] = ()) -> None:
        self._record("connect_network", network, container, tuple(aliases))
        if network not in self.networks:
            raise DockerNotFoundError(f"network {network} not found")
        found = self._find(container)
        if found.info.network_mode.startswith("container:"):
            raise DockerRefusedError("container sharing network namespace with another container or host "
                                     "cannot be connected to any other network")  # fmt: skip
        if found.info.name in self.networks[network]:
            raise DockerRefusedError(f"endpoint with name {found.info.name} already exists in network {network}")
        self.networks[network].add(found.info.name)
        if aliases:
            self.aliases[(network, found.info.name)] = tuple(aliases)
        if found.spec is not None and not found.info.ports:  # published again, on new host ports
            found.info = replace(found.info, ports=self._published(found.spec))

    def disconnect_network(self, network: str, container: str) -> None:
        self._record("disconnect_network", network, container)
        if network not in self.networks:
            raise DockerNotFoundError(f"network {network} not found")
        found = self._find(container)
        if found.info.name not in self.networks[network]:
            raise DockerRefusedError(f"container {found.info.id} is not connected to network {network}")
        self.networks[network].discard(found.info.name)
        self.aliases.pop((network, found.info.name), None)
        if not any(found.info.name in members for members in self.networks.values()):
            found.info = replace(found.info, ports=())  # its last network: nothing is published

    def network_exists(self, name: str) -> bool:
        self._record("network_exists", name)
        return name in self.networks

    def create_network(self, name: str, labels: Mapping[str, str]) -> None:
        self._record("create_network", name, dict(labels))
        if name in self.networks:
            raise DockerConflictError(f"network with name {name} already exists")
        self.networks[name] = set()

    def remove_network(self, name: str) -> None:
        self._record("remove_network", name)
        self.networks.pop(name, None)

    def create_volume(self, name: str, labels: Mapping[str, str]) -> None:
        self._record("create_volume", name, dict(labels))
        self.volume_labels.setdefault(name, dict(labels))

    def volumes(self, labels: Sequence[str]) -> list[str]:
        self._record("volumes", tuple(labels))
        return [name for name, have in self.volume_labels.items() if _matches(have, labels)]

    def remove_volume(self, name: str) -> None:
        self._record("remove_volume", name)
        if self.volume_labels.pop(name, None) is None:
            raise DockerNotFoundError(f"get {name}: no such volume")


_: DockerEngine = FakeDockerEngine()
