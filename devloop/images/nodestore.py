"""A kind node's own image store (containerd, namespace k8s.io): images arrive there by `kind load`
or a pull from the local registry, and stay until removed with the node's `crictl`.

kind's node image ships crictl in /usr/local/bin (kind images/base/Dockerfile); it is reached
with `docker exec NODE crictl ...`. `crictl ps` says which images the node's containers run.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Awaitable, Callable, Sequence

from devloop.adapters import proc
from devloop.errors import DevloopError
from devloop.images.budget import StoredImage, app_of
from devloop.images.stores import Inventory, Removal

Runner = Callable[[Sequence[str]], Awaitable[proc.ProcResult]]


async def _run(argv: Sequence[str]) -> proc.ProcResult:
    return await proc.run(argv, keep_lines=100_000)


def parse_images(lines: Sequence[str]) -> list[tuple[str, tuple[str, ...], int]]:
    """`crictl images -o json` -> (id, repoTags, size) per image."""
    record = json.loads("\n".join(lines) or "{}")
    found = []
    for image in record.get("images") or []:
        size = image.get("size") or 0  # a string in the protobuf's JSON (uint64)
        tags = tuple(str(t) for t in image.get("repoTags") or ())
        found.append((str(image.get("id", "")), tags, int(size)))
    return found


def parse_running(lines: Sequence[str]) -> frozenset[str]:
    """`crictl ps -o json` (running containers only) -> the image ids they run."""
    record = json.loads("\n".join(lines) or "{}")
    ids: set[str] = set()
    for container in record.get("containers") or []:
        ids.add(str(container.get("imageRef") or ""))
        ids.add(str((container.get("image") or {}).get("image") or ""))
    return frozenset(ids - {""})


class NodeStore:
    """One kind node's containerd images, through its crictl."""

    def __init__(self, node: str, runner: Runner = _run, docker: str | None = None) -> None:
        self.node = node
        self.name = f"kind node {node}"
        self._run = runner
        self._docker = docker or shutil.which("docker") or "docker"

    def _crictl(self, *args: str) -> list[str]:
        return [self._docker, "exec", self.node, "crictl", *args]

    async def _json(self, *args: str) -> list[str]:
        result = await self._run(self._crictl(*args))
        if not result.ok:
            why = " ".join(result.output[-3:])
            raise DevloopError(f"`crictl {' '.join(args)}` on {self.node} failed: {why}")
        return [line for line in result.output if line.strip()]

    async def inventory(self) -> Inventory:
        images: list[StoredImage] = []
        used = 0
        for image_id, tags, size in parse_images(await self._json("images", "-o", "json")):
            ours = False
            for name in tags:
                repository, _, tag = name.rpartition(":")
                if app_of(repository) is not None:
                    ours = True
                    images.append(StoredImage(repository, tag, 0.0, size, image_id))
            used += size if ours else 0
        running = parse_running(await self._json("ps", "-o", "json"))
        return Inventory(tuple(images), in_use_ids=running, used_bytes=used)

    async def remove(self, images: Sequence[StoredImage]) -> Removal:
        freed: dict[str, int] = {}
        removed: list[str] = []
        failed: list[tuple[str, str]] = []
        for image in images:  # one at a time: crictl stops at the first it cannot remove
            if image.id in freed:  # its other name went with it (crictl removes the image, every tag)
                removed.append(image.ref)
                continue
            result = await self._run(self._crictl("rmi", image.ref))
            if result.ok:
                freed[image.id] = image.size
                removed.append(image.ref)
            else:
                failed.append((image.ref, " ".join(result.output[-2:])[:200]))
        return Removal(sum(freed.values()), tuple(removed), tuple(failed))
