"""The stores devloop's images pile up in, behind one small interface: what a store holds (and
what of it runs), and removing tags from it. The local engine lives here; the registry and
kind's nodes in `registrystore` and `nodestore`."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from devloop.adapters.dockerapi import DiskUsage, DockerEngine, ImageUsage
from devloop.errors import DevloopError, DockerConflictError, DockerNotFoundError
from devloop.images.budget import StoredImage, app_of


@dataclass(frozen=True)
class Inventory:
    images: tuple[StoredImage, ...]
    in_use: frozenset[str] = frozenset()  # references running instances use
    in_use_ids: frozenset[str] = frozenset()  # image ids (or digests) running instances use
    used_bytes: int = 0  # what devloop's images take in this store


@dataclass(frozen=True)
class Removal:
    freed: int  # bytes
    removed: tuple[str, ...] = ()
    failed: tuple[tuple[str, str], ...] = ()  # (reference, why it stayed)
    notes: tuple[str, ...] = field(default_factory=tuple)  # said once: a registry without deletes


class Store(Protocol):
    """One place images are kept: the local engine, a registry, a kind node."""

    name: str

    async def inventory(self) -> Inventory: ...

    async def remove(self, images: Sequence[StoredImage]) -> Removal: ...


class EngineStore:
    """The local Docker engine: tags via `docker system df` (sizes, who runs what), ordered by when
    each was last tagged (a build's `Created` may be its base's); removal by untagging."""

    name = "local engine"

    def __init__(self, opener: Callable[[], DockerEngine]) -> None:
        self._open = opener

    async def inventory(self) -> Inventory:
        usage = await asyncio.to_thread(self._usage, True)
        images: list[StoredImage] = []
        used = 0
        for image in usage.images:
            unique = image.size - image.shared_size if image.shared_size >= 0 else image.size
            ours = False
            for name in image.tags:
                repository, _, tag = name.rpartition(":")
                if app_of(repository) is not None:
                    ours = True
                    made = image.tagged_at or image.created  # when devloop last tagged it, if known
                    images.append(StoredImage(repository, tag, made, unique, image.id))
            used += unique if ours else 0
        return Inventory(tuple(images), in_use_ids=usage.running_image_ids, used_bytes=used)

    async def remove(self, images: Sequence[StoredImage]) -> Removal:
        return await asyncio.to_thread(self._remove, images)

    def _usage(self, tag_times: bool = False) -> DiskUsage:
        engine = self._open()
        try:
            return engine.disk_usage(_ours if tag_times else None)
        finally:
            engine.close()

    def _remove(self, images: Sequence[StoredImage]) -> Removal:
        engine = self._open()
        try:
            before = engine.disk_usage().layers_size
            removed: list[str] = []
            failed: list[tuple[str, str]] = []
            for image in images:
                try:
                    engine.remove_image(image.ref)
                except DockerNotFoundError:
                    continue  # gone meanwhile: nothing to free
                except DockerConflictError as exc:  # a stopped container still refers to it
                    failed.append((image.ref, str(exc).splitlines()[0][:200]))
                except DevloopError as exc:
                    failed.append((image.ref, str(exc).splitlines()[0][:200]))
                else:
                    removed.append(image.ref)
            after = engine.disk_usage().layers_size if removed else before
        finally:
            engine.close()
        return Removal(max(0, before - after), tuple(removed), tuple(failed))


def _ours(image: ImageUsage) -> bool:
    return any(app_of(name.rpartition(":")[0]) is not None for name in image.tags)
