"""What a container is to devloop, read from its labels and inspect data without calling the engine:
its project, app, process type, instance or sidecar, its config hash, address and status.

Containers carry labels (project, app, index, image, config) so devloop finds its own, and only its
own, again after a restart; a container started from the same config hash is interchangeable with a
new one, so a second `devloop up` adopts it. The readers take the engine seam's ContainerInfo, from
the list endpoint (labels, state, ports, network) or an inspect (everything) alike.
"""

from __future__ import annotations

import hashlib
import json

from devloop.adapters.dockerapi import ContainerInfo
from devloop.core.debug import RUNTIMES
from devloop.core.events import InstanceStatus
from devloop.core.logformat import parse_rfc3339_ns
from devloop.core.processes import WEB
from devloop.core.spec import AppSpec, SidecarSpec

LABEL_PROJECT = "devloop.project"
LABEL_APP = "devloop.app"
LABEL_INDEX = "devloop.index"
LABEL_IMAGE = "devloop.image"
LABEL_CONFIG = "devloop.config"  # hash of everything that shapes the container, for adoption
LABEL_PROCESS = "devloop.process"  # the cf process type it runs (web, worker, ...)
LABEL_SIDECAR = "devloop.sidecar"  # set on a sidecar: its name; it shares its instance's network
LABEL_DEBUG = "devloop.debug"  # set on an instance run under a debugger: its runtime (core.debug)


def config_hash(app: AppSpec, image: str, process: str = WEB, sidecars: tuple[SidecarSpec, ...] = ()) -> str:
    """Containers started from the same image, command, env, memory, port and sidecars are
    interchangeable."""
    shape = {
        "image": image,
        "command": app.command,
        "env": sorted(app.env),
        "secret_env": hashlib.sha256(json.dumps(sorted(app.secret_env)).encode()).hexdigest(),
        "memory_mb": app.memory_mb,
        "port": app.port,
        **({"process": process} if process != WEB else {}),
        **({"sidecars": [[s.name, s.command, s.memory_mb] for s in sidecars]} if sidecars else {}),
    }
    return hashlib.sha256(json.dumps(shape, sort_keys=True).encode()).hexdigest()[:16]


def labels_of(item: ContainerInfo) -> dict[str, str]:
    """The container's labels."""
    return dict(item.labels)


def process_of(item: ContainerInfo) -> str:
    """The process type a container runs; containers from before process types ran web."""
    return labels_of(item).get(LABEL_PROCESS, WEB)


def sidecar_of(item: ContainerInfo) -> str:
    """The sidecar's name; "" for an instance of a process."""
    return labels_of(item).get(LABEL_SIDECAR, "")


def index_of(item: ContainerInfo) -> str:
    """The instance index, as its label says it (`?` if it says none)."""
    return labels_of(item).get(LABEL_INDEX, "?")


def instance_label(container: ContainerInfo) -> str:
    """`0`, `worker/1`: an instance as messages name it."""
    process, index = process_of(container), index_of(container)
    return index if process == WEB else f"{process}/{index}"


def instance_of(sidecar: ContainerInfo) -> str:
    """The id of the instance whose network a sidecar shares (a summary or a container object)."""
    return sidecar.network_mode.removeprefix("container:")


def sidecars_among(items: list[ContainerInfo], instance_id: str) -> list[ContainerInfo]:
    """The sidecars among `items` that share the network of the instance `instance_id`."""
    return [item for item in items if sidecar_of(item) and instance_of(item) == instance_id]


def is_down(container: ContainerInfo) -> bool:
    """Not serving and not on its way out: exited (crashed) or waiting in Docker's backoff."""
    return container.status in ("exited", "restarting")


def address_of(container: ContainerInfo, port: int) -> tuple[str, int] | None:
    """Where the container's `port` is published on the host's loopback, if it is."""
    for binding in container.ports:
        if binding.container_port == port and binding.host_ip in ("127.0.0.1", "") and binding.host_port:
            return "127.0.0.1", binding.host_port
    return None


def backends_of(containers: list[ContainerInfo], port: int) -> list[tuple[str, int, str]]:
    """(host, port, index) of each container published on the host, as the router takes them."""
    found = []
    for container in containers:
        address = address_of(container, port)
        if address is not None:
            found.append((*address, index_of(container)))
    return found


def started_ns(container: ContainerInfo) -> int:
    """When the container last started (0 if the engine does not say)."""
    try:
        return parse_rfc3339_ns(container.started_at)
    except ValueError:
        return 0


def memory_limit_mb(container: ContainerInfo) -> int | None:
    limit = container.memory_bytes
    return limit // (1024 * 1024) if limit else None


def numeric_user(user: str) -> tuple[int, int]:
    """(uid, gid) of an image's `USER` for the files a sync writes; a user name counts as root."""
    name, _, group = user.partition(":")
    uid = int(name) if name.isdigit() else 0
    gid = int(group) if group.isdigit() else uid
    return uid, gid


def as_process(process: str) -> str:
    """` as process worker` in progress lines; nothing for web."""
    return "" if process == WEB else f" as process {process}"


def instance_status(container: ContainerInfo, app: AppSpec, stopping: bool) -> InstanceStatus:
    """The container as the engine reports it; `stopping`: devloop replaces or restarts it, so its
    exit is no crash."""
    status = container.status
    exit_code = container.exit_code
    if stopping:
        shown = "stopping"
    elif status == "running":
        shown = "running"
    elif status == "restarting":
        shown = "crashed"
    elif status in ("exited", "dead"):
        shown = "crashed" if exit_code not in (0, None) else "exited"
    else:
        shown = "starting"
    address = address_of(container, app.port)
    runtime = RUNTIMES.get(labels_of(container).get(LABEL_DEBUG, ""))
    debug_at = address_of(container, runtime.port) if runtime is not None else None
    return InstanceStatus(
        app=app.name,
        index=int(labels_of(container).get(LABEL_INDEX, "0")),
        id=container.id,
        state=shown,
        healthy=shown == "running",  # checked again by the health wait before traffic
        restarts=container.restart_count,
        address=f"{address[0]}:{address[1]}" if address else None,
        exit_code=exit_code if shown != "running" else None,
        process=process_of(container),
        sidecar=sidecar_of(container),
        oom_killed=container.oom_killed and shown != "stopping",
        memory_limit_mb=memory_limit_mb(container),
        name=container.name,
        debug=runtime.tool if runtime is not None else "",
        debug_address=f"{debug_at[0]}:{debug_at[1]}" if debug_at else None,
    )
