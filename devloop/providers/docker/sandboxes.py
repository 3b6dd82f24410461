"""Network sandboxes made ahead of a deploy, so a new instance starts in one that is ready.

Docker spends most of a container's start on its network: a new namespace, an endpoint on the
project's network with the embedded DNS, and the published ports (measured here: ~260 ms of a
~270 ms start, against ~70 ms for a container that joins a namespace that exists). A Kubernetes
pod keeps its network in a sandbox container of its own; devloop does the same on Docker, and
makes the sandboxes between deploys, off the save's path:

- parked: a sandbox made from the app's image (a shell that sleeps; no init, so an image with
  no shell fails at start, not later), its
  ports published, then taken off the project's network so no name of the app resolves to it;
- taken: a deploy connects it to the project's network with the instance's aliases (~50 ms) and
  starts the instance with `network_mode: container:<sandbox>`;
- spent: the instance is gone; the sandbox goes with it (or with the next refill).

An image with no `/bin/sh` cannot park a sandbox: its instances start on the network as before.
"""

from __future__ import annotations

import contextlib
import secrets
import threading
from collections.abc import Iterable
from dataclasses import dataclass

from devloop.adapters.dockerapi import ContainerInfo, ContainerSpec, DockerEngine, PortBinding
from devloop.errors import DevloopError, DockerNotFoundError
from devloop.providers.docker.labels import LABEL_APP, LABEL_IMAGE, LABEL_PROCESS, LABEL_PROJECT

LABEL_SANDBOX = "devloop.sandbox"  # set on a sandbox: the app whose instances it is made for
LABEL_SANDBOX_PORTS = "devloop.sandbox.ports"  # the container ports it publishes, "8080,5678"
PARK_COMMAND = ("/bin/sh", "-c", "while :; do sleep 3600; done")


@dataclass(frozen=True)
class Shape:
    """What makes a sandbox fit an instance: its app, process type and published ports. The image
    is only what a new sandbox is made from (the newest, with a shell): any such image fits."""

    app: str
    process: str
    image: str
    ports: tuple[int, ...]

    @property
    def ports_label(self) -> str:
        return ",".join(str(p) for p in self.ports)

    def fits(self, sandbox: ContainerInfo) -> bool:
        labels = sandbox.labels
        return (
            labels.get(LABEL_SANDBOX) == self.app
            and labels.get(LABEL_PROCESS) == self.process
            and labels.get(LABEL_SANDBOX_PORTS) == self.ports_label
        )


def sandbox_labels(project_id: str, app: str | None = None) -> list[str]:
    """The label filter of the project's sandboxes (one app's)."""
    return [f"{LABEL_PROJECT}={project_id}", LABEL_SANDBOX if app is None else f"{LABEL_SANDBOX}={app}"]


def is_sandbox(container: ContainerInfo) -> bool:
    return LABEL_SANDBOX in container.labels


def joined(container: ContainerInfo) -> str:
    """The id of the container whose network namespace `container` runs in ("" if its own)."""
    mode = container.network_mode
    return mode.removeprefix("container:") if mode.startswith("container:") else ""


class Sandboxes:
    """One project's sandboxes on the engine. Their state is read from the engine each time (a
    restarted devloop finds its parked ones); only a take under way is known in memory, so the
    instances of one deploy, started side by side, never take the same one."""

    def __init__(self, project_id: str, network: str) -> None:
        self.project_id = project_id
        self.network = network
        self._lock = threading.Lock()
        self._claimed: set[str] = set()  # taken, and their instance not created yet
        self._no_shell: set[str] = set()  # images a sandbox could not start from
        self._refilling = threading.Lock()
        self._held = threading.Event()  # set: no refill makes sandboxes (the project is going)

    def hold(self) -> None:
        """No more sandboxes until `resume`: removing the project must not race a refill."""
        self._held.set()

    def resume(self) -> None:
        self._held.clear()

    def _listed(self, engine: DockerEngine) -> tuple[list[ContainerInfo], set[str]]:
        """The project's sandboxes, and the ids of those some container runs in."""
        everything = engine.containers([f"{LABEL_PROJECT}={self.project_id}"])
        used = {joined(c) for c in everything if not is_sandbox(c)} - {""}
        return [c for c in everything if is_sandbox(c)], used

    def _parked(self, sandbox: ContainerInfo, used: set[str]) -> bool:
        return (
            sandbox.status == "running" and self.network not in sandbox.networks
            and sandbox.id not in used and sandbox.id not in self._claimed
        )  # fmt: skip

    def take(self, engine: DockerEngine, shape: Shape, aliases: Iterable[str]) -> str | None:
        """A parked sandbox of `shape`, now on the project's network as `aliases`; None if there is
        none ready (the instance then makes its own network, as a first deploy does)."""
        with self._lock:
            sandboxes, used = self._listed(engine)
            ready = [s for s in sandboxes if shape.fits(s) and self._parked(s, used)]
            if not ready:
                return None
            chosen = ready[0].id
            self._claimed.add(chosen)
        try:
            engine.connect_network(self.network, chosen, tuple(aliases))
        except DevloopError:
            self.release(engine, chosen)
            return None
        return chosen

    def joined_by(self, sandbox: str) -> None:
        """Its instance exists now: the engine says it is used from here on."""
        with self._lock:
            self._claimed.discard(sandbox)

    def release(self, engine: DockerEngine, sandbox: str) -> None:
        """The instance it was taken for is gone (or never came): so is the sandbox."""
        with self._lock:
            self._claimed.discard(sandbox)
        with contextlib.suppress(DevloopError):
            engine.remove_container(sandbox)

    def published(self, engine: DockerEngine, sandbox: str) -> tuple[PortBinding, ...]:
        """The ports a sandbox publishes (an instance in it reports none of its own); asked each
        time, as a sandbox started again publishes them on new host ports."""
        try:
            return engine.container(sandbox).ports
        except DockerNotFoundError:
            return ()

    def refill(self, engine: DockerEngine, shape: Shape, want: int) -> None:
        """`want` parked sandboxes of `shape` for the app's next deploy; spent ones, and parked ones
        of other ports, go. Slow (a sandbox is a full container start): run it between
        deploys, never on a save's path."""
        with self._refilling:  # one refill at a time: two would both count the same shortfall
            if shape.image not in self._no_shell and not self._held.is_set():
                self._refill(engine, shape, want)

    def _refill(self, engine: DockerEngine, shape: Shape, want: int) -> None:
        with self._lock:
            sandboxes, used = self._listed(engine)
            spent = [
                s for s in sandboxes
                if s.id not in used and s.id not in self._claimed
                and (not self._parked(s, used) or (s.labels.get(LABEL_SANDBOX) == shape.app
                                                   and s.labels.get(LABEL_PROCESS) == shape.process
                                                   and not shape.fits(s)))
            ]  # fmt: skip
            ready = [s for s in sandboxes if shape.fits(s) and self._parked(s, used)]
        for sandbox in [*spent, *ready[want:]]:
            self.release(engine, sandbox.id)
        for _ in range(want - len(ready)):
            if not self._park(engine, shape):
                return

    def _park(self, engine: DockerEngine, shape: Shape) -> bool:
        name = f"devloop-{shape.app}-{shape.process}-sandbox-{secrets.token_hex(3)}"
        labels = {
            LABEL_PROJECT: self.project_id,
            LABEL_APP: "",  # not the image's: `label=devloop.app=web` finds the instances alone
            LABEL_SANDBOX: shape.app,
            LABEL_PROCESS: shape.process,
            LABEL_IMAGE: shape.image,
            LABEL_SANDBOX_PORTS: shape.ports_label,
        }
        spec = ContainerSpec(
            image=shape.image, name=name, labels=labels, entrypoint=PARK_COMMAND, command=(),
            ports=tuple(PortBinding(p, None) for p in shape.ports), network=self.network,
            security_opt=("no-new-privileges",), memory_mb=16,
            restart_policy="unless-stopped",  # back after an engine restart, as its instance comes back
        )  # fmt: skip
        try:
            made = engine.create_container(spec)
        except DevloopError:
            return False
        if self._held.is_set():  # the project is being removed: nothing new may stay behind
            self.release(engine, made)
            return False
        try:
            engine.start(made)
            engine.disconnect_network(self.network, made)
        except DevloopError:
            # No shell in the image (or the engine said no): its instances make their own networks.
            self._no_shell.add(shape.image)
            with contextlib.suppress(DevloopError):
                engine.remove_container(made)
            return False
        return True

    def remove_parked(self, engine: DockerEngine) -> None:
        """The parked ones go (a devloop that made them stops); those instances run in stay."""
        with self._lock:
            sandboxes, used = self._listed(engine)
            parked = [s.id for s in sandboxes if self._parked(s, used)]
        for sandbox in parked:
            self.release(engine, sandbox)
