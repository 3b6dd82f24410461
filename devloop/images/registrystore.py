"""A registry's copies of devloop's images, through the registry HTTP API (distribution spec):
list tags, read each manifest's digest (with the Accept header that gets the digest pushed), and
DELETE by digest.

A registry frees the blobs only when its garbage collection runs (`registry garbage-collect`);
a registry without `storage: delete: enabled: true` answers 405 UNSUPPORTED, said once.
"""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from devloop.images.budget import StoredImage, app_of
from devloop.images.stores import Inventory, Removal

MANIFEST_TYPES = ", ".join((
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.index.v1+json",
))  # fmt: skip
NO_DELETE = (
    "the registry at {address} does not allow deletes: set `storage: delete: enabled: true` in its "
    "config (REGISTRY_STORAGE_DELETE_ENABLED=true for the registry image)"
)
TIMEOUT_S = 10.0
PAGE = 1000  # distribution's maximum `n`: more is 400 PAGINATION_NUMBER_INVALID


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes


class RegistryStore:
    """Tags of `devloop/<app>` repositories in the registry at `address` (`localhost:5001`)."""

    def __init__(
        self, address: str, scheme: str = "http", apps: Sequence[str] | None = None,
        after_delete: Callable[[], None] | None = None,
    ) -> None:  # fmt: skip
        self.address = address
        self._after_delete = after_delete  # the registry's garbage collection, where devloop runs it
        self.name = f"registry {address}"
        self._base = f"{scheme}://{address}/v2/"
        self._apps = None if apps is None else set(apps)

    def _call(self, path: str, method: str = "GET", accept: str | None = None) -> Answer:
        request = urllib.request.Request(self._base + path, method=method)
        if accept:
            request.add_header("Accept", accept)
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
                headers = {k.lower(): v for k, v in response.headers.items()}
                return Answer(response.status, headers, response.read())
        except urllib.error.HTTPError as exc:
            return Answer(exc.code, {k.lower(): v for k, v in exc.headers.items()}, exc.read())

    def _json(self, path: str, accept: str | None = None) -> tuple[dict[str, Any], dict[str, str]]:
        answer = self._call(path, accept=accept)
        if answer.status != 200:
            return {}, answer.headers
        found = json.loads(answer.body or b"{}")
        return (found if isinstance(found, dict) else {}), answer.headers

    def _repositories(self) -> list[str]:
        names: list[str] = []
        path: str | None = f"_catalog?n={PAGE}"
        while path is not None:  # the registry answers at most PAGE names, and a Link to the rest
            found, headers = self._json(path)
            names += [str(r) for r in found.get("repositories") or [] if isinstance(r, str)]
            path = _next_page(headers.get("link", ""))
        return [r for r in names if app_of(r) is not None and (self._apps is None or app_of(r) in self._apps)]

    def _image(self, repository: str, tag: str) -> StoredImage | None:
        manifest, headers = self._json(f"{repository}/manifests/{tag}", MANIFEST_TYPES)
        digest = headers.get("docker-content-digest", "")
        if not manifest or not digest:
            return None
        config: dict[str, Any] = manifest["config"] if isinstance(manifest.get("config"), dict) else {}
        layers: list[Any] = manifest["layers"] if isinstance(manifest.get("layers"), list) else []
        size = sum(int(layer.get("size") or 0) for layer in layers if isinstance(layer, dict))
        created = 0.0
        if config.get("digest"):
            size += int(config.get("size") or 0)
            blob, _ = self._json(f"{repository}/blobs/{config['digest']}")
            created = _epoch(str(blob.get("created") or ""))
        return StoredImage(repository, tag, created, size, digest)

    def _inventory(self) -> Inventory:
        images: list[StoredImage] = []
        for repository in self._repositories():
            found, _ = self._json(f"{repository}/tags/list")
            for tag in found.get("tags") or []:
                image = self._image(repository, str(tag))
                if image is not None:
                    images.append(image)
        used = sum({image.id: image.size for image in images}.values())
        return Inventory(tuple(images), used_bytes=used)

    async def inventory(self) -> Inventory:
        return await asyncio.to_thread(self._inventory)

    def _remove(self, images: Sequence[StoredImage]) -> Removal:
        freed: dict[str, int] = {}
        removed: list[str] = []
        failed: list[tuple[str, str]] = []
        for image in images:
            if image.id in freed:
                removed.append(image.ref)
                continue
            answer = self._call(f"{image.repository}/manifests/{image.id}", method="DELETE")
            if answer.status in (200, 202, 404):  # 404: gone already
                freed[image.id] = image.size
                removed.append(image.ref)
            elif answer.status == 405:  # delete not enabled: every other one would say so too
                note = NO_DELETE.format(address=self.address)
                return Removal(sum(freed.values()), tuple(removed), tuple(failed), (note,))
            else:
                body = answer.body[:200].decode(errors="replace")
                failed.append((image.ref, f"HTTP {answer.status}: {body}"))
        notes: tuple[str, ...] = ()
        if freed and self._after_delete is not None:
            try:
                self._after_delete()
            except Exception as exc:  # the manifests are gone; the blobs wait for the next collection
                notes = (f"the registry's garbage collection failed ({exc}); the blobs stay till it runs",)
        elif freed:
            notes = ("the space returns when the registry's garbage collection runs",)
        return Removal(sum(freed.values()), tuple(removed), tuple(failed), notes)

    async def remove(self, images: Sequence[StoredImage]) -> Removal:
        return await asyncio.to_thread(self._remove, images)


def _epoch(text: str) -> float:
    """An image config's `created` (RFC 3339) as seconds since the epoch; 0 when unreadable."""
    try:
        return datetime.fromisoformat(text).timestamp() if text else 0.0
    except ValueError:
        return 0.0


def _next_page(link: str) -> str | None:
    """`</v2/_catalog?last=x&n=1000>; rel="next"` -> `_catalog?last=x&n=1000`."""
    if 'rel="next"' not in link or "<" not in link:
        return None
    target = link[link.index("<") + 1 : link.index(">")]
    return target.split("/v2/", 1)[-1]
