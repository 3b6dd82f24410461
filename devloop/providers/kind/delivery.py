"""How a built image reaches the nodes of each kind of cluster: one place, fastest way first.

`ways` is the pure plan (a registry the cluster announces, else the cluster tool's own
copy, else nothing to do when the cluster runs the engine's images); `Delivery` runs it,
says which way went and how long it took, falls back once when the fast way fails, and
remembers that failure for the session so the next save goes straight to the way that works.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import time
from collections.abc import Awaitable, Callable
from enum import StrEnum
from pathlib import Path

from devloop.adapters import dockersdk, proc
from devloop.adapters import registry as registry_push
from devloop.adapters.clustercli import K3dCli, MinikubeCli
from devloop.adapters.kindcli import KindCli
from devloop.adapters.kubewire import Obj
from devloop.errors import DevloopError, ProviderError, ToolMissingError
from devloop.providers.base import Progress
from devloop.providers.kind.clusters import ENGINE_SHARING, ClusterType, Detected
from devloop.providers.kind.registry import node_platform, uses_containerd_store

REGISTRY_HINT = (
    "set `registry: HOST/PREFIX` in devloop.yaml (or pass --registry HOST/PREFIX) to a registry "
    "the cluster can pull from; a KEP-1755 `local-registry-hosting` ConfigMap in kube-public also works"
)


class Way(StrEnum):
    REGISTRY = "registry push"
    KIND_LOAD = "kind load docker-image"
    KIND_ARCHIVE = "docker save + kind load image-archive"
    K3D_IMPORT = "k3d image import"
    K3D_ARCHIVE = "docker save + k3d image import"
    MINIKUBE_LOAD = "minikube image load"
    MINIKUBE_ARCHIVE = "docker save + minikube image load"
    SHARED = "shared engine (no copy)"


def ways(detected: Detected, registry: str | None, containerd_store: bool) -> list[Way]:
    """The ways to try, fastest first. Docker's containerd image store breaks `kind load
    docker-image` (kind issue 3795) and `k3d image import IMAGE` (k3d issue 1538): one
    platform's `docker save` archive goes first there."""
    found = [Way.REGISTRY] if registry else []
    kind = detected.type
    if kind is ClusterType.KIND:
        pair = [Way.KIND_LOAD, Way.KIND_ARCHIVE]
    elif kind is ClusterType.K3D:
        pair = [Way.K3D_IMPORT, Way.K3D_ARCHIVE]
    elif kind is ClusterType.MINIKUBE:  # it reads the engine itself; the archive is the fallback
        return [*found, Way.MINIKUBE_LOAD, Way.MINIKUBE_ARCHIVE]
    elif detected.shares_engine:
        return [Way.SHARED]  # nothing beats no copy, not even an announced registry
    else:
        return found
    return [*found, *(reversed(pair) if containerd_store else pair)]


def no_way_message(detected: Detected, context: str | None) -> ProviderError:
    """The one message for a cluster devloop cannot copy images into: a registry is required."""
    if detected.type in ENGINE_SHARING:
        why = (f"it is {detected.type} ({detected.why}), but devloop's Docker engine is not the one "
               "that cluster runs (another DOCKER_HOST, or its nodes do not run Docker)")  # fmt: skip
    else:
        why = f"devloop does not know how to copy images into it ({detected.why})"
    return ProviderError(f"context {context or detected.name} needs a registry: {why}", hint=REGISTRY_HINT)


Runner = Callable[[str, Path], Awaitable[str]]


class Delivery:
    """One provider's image delivery: the plan for its cluster, and what failed this session."""

    def __init__(
        self, detected: Detected, context: str | None, kind: KindCli | None = None,
        containerd_platform: Callable[[], str | None] | None = None,
    ) -> None:  # fmt: skip
        self.detected = detected
        self.context = context
        self.kind = kind
        self._platform_of = containerd_platform or engine_image_store
        self._platform: str | None = None
        self._platform_read = False
        self.failed: dict[Way, str] = {}  # a way that failed this session -> why, never tried again

    def platform(self) -> str | None:
        """The node platform when the engine uses the containerd image store (read once)."""
        if not self._platform_read:
            self._platform, self._platform_read = self._platform_of(), True
        return self._platform

    def plan(self, registry: str | None) -> list[Way]:
        containerd = False
        if self.detected.type in (ClusterType.KIND, ClusterType.K3D):
            containerd = self.platform() is not None
        return ways(self.detected, registry, containerd)

    def describe(self, registry: str | None) -> str:
        """The way the next image goes, for `devloop doctor` and the platform line."""
        planned = [w for w in self.plan(registry) if w not in self.failed]
        if not planned:
            return "a registry (none set)"
        first = planned[0]
        return f"registry {registry}" if first is Way.REGISTRY else str(first)

    async def deliver(self, image: str, registry: str | None, progress: Progress) -> str:
        """The reference the cluster runs `image` by; one progress line says how it got there."""
        planned = self.plan(registry)
        if not planned:
            raise no_way_message(self.detected, self.context)
        left = [w for w in planned if w not in self.failed] or planned  # all failed: try afresh
        first, fallback = left[0], (left[1] if len(left) > 1 else None)
        try:
            return await self._run(first, image, registry, progress)
        except (DevloopError, OSError) as exc:
            self.failed[first] = str(exc)
            if fallback is None or (isinstance(exc, ToolMissingError) and _tool(fallback) == _tool(first)):
                raise  # the archive way needs the same missing tool: its install hint is the fix
            progress(f"{first} failed ({_short(exc)}); falling back to {fallback} for this session")
        try:
            return await self._run(fallback, image, registry, progress)
        except (DevloopError, OSError) as exc:
            self.failed[fallback] = str(exc)
            raise ProviderError(
                f"{image} reached no node of {self.context or self.detected.name}: {first} failed "
                f"({_short(Exception(self.failed[first]))}), then {fallback}: {_short(exc)}",
                hint=REGISTRY_HINT,
            ) from None

    async def _run(self, way: Way, image: str, registry: str | None, progress: Progress) -> str:
        started = time.monotonic()
        detail = ""
        reference = image
        name = self.detected.name
        if way is Way.REGISTRY:
            assert registry is not None
            said: list[str] = []
            engine = await asyncio.to_thread(dockersdk.open_engine)
            try:
                reference = await registry_push.push(engine, image, registry, said.append)
            finally:
                engine.close()
            detail = "".join(f" ({line.split(' (', 1)[1]}" for line in said[-1:] if " (" in line)
        elif way is Way.KIND_LOAD:
            await self._kind().load_image(name, image)
        elif way is Way.K3D_IMPORT:
            await K3dCli.find().import_image(name, image)
        elif way is Way.MINIKUBE_LOAD:
            await MinikubeCli.find().load_image(name, image)
        elif way is not Way.SHARED:
            await self._via_archive(way, image)
        elapsed = time.monotonic() - started
        into = f"{self.detected.type} cluster {name}"
        progress(f"delivered {reference} to {into} via {way} in {elapsed:.2f} s{detail}")
        return reference

    def _kind(self) -> KindCli:
        if self.kind is None:
            self.kind = KindCli.find()
        return self.kind

    async def _via_archive(self, way: Way, image: str) -> None:
        """One platform's `docker image save` archive into the cluster tool (a path it reads as a file)."""
        platform = self.platform()
        with tempfile.TemporaryDirectory(prefix="devloop-image-") as folder:
            archive = Path(folder) / "image.tar"
            await save_image(image, platform, archive)
            if way is Way.KIND_ARCHIVE:
                await self._kind().load_archive(self.detected.name, archive)
            elif way is Way.K3D_ARCHIVE:
                await K3dCli.find().import_image(self.detected.name, archive)
            else:
                await MinikubeCli.find().load_image(self.detected.name, archive)


def _tool(way: Way) -> str:
    """The CLI a way runs (`kind`, `k3d`, `minikube`), "" for none."""
    return next((tool for tool in ("kind", "k3d", "minikube") if tool in way.value), "")


def _short(exc: BaseException, keep: int = 200) -> str:
    """The error on one line; a long one keeps its end, where tools print the reason."""
    text = " ".join(str(exc).split())
    return text if len(text) <= keep else "..." + text[-keep:]


def engine_image_store() -> str | None:
    """The node platform when the engine uses the containerd image store, else None."""
    try:
        engine = dockersdk.open_engine()
    except DevloopError:
        return None
    try:
        info: Obj = engine.info()
    except DevloopError:
        return None
    finally:
        engine.close()
    return node_platform(info) if uses_containerd_store(info) else None


async def save_image(image: str, platform: str | None, archive: Path) -> None:
    """`docker image save` of one platform (engines before 28 know no --platform: all of it then)."""
    docker_cli = shutil.which("docker") or "docker"
    argv = [docker_cli, "image", "save", *(["--platform", platform] if platform else []), "-o", str(archive)]
    result = await proc.run([*argv, image])
    if platform and not result.ok and any(
        "unknown flag" in line or "requires API version" in line for line in result.output
    ):
        result = await proc.run([docker_cli, "image", "save", "-o", str(archive), image])
    if not result.ok:
        raise ProviderError(f"`docker image save {image}` failed: " + " ".join(result.output[-5:]))
