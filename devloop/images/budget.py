"""The disk budget's rule, pure: per app keep the newest N content tags in a store, never one that runs.

A store (the local engine, the cluster's registry, a kind node's containerd) lists what it holds
as `StoredImage`s; `plan` says which to remove. Only devloop's own content tags are candidates
(`devloop/<app>:<16 hex>`, wherever a registry host prefixes it): a user's `latest` or a base
image is never touched.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

DEFAULT_KEEP = 3
CONTENT_TAG = re.compile(r"^[0-9a-f]{16}$")


@dataclass(frozen=True)
class StoredImage:
    """One tag in one store, as the store reports it."""

    repository: str  # as the store names it: devloop/web, localhost:5001/devloop/web, docker.io/devloop/web
    tag: str
    created: float = 0.0  # seconds since the epoch; 0 when the store does not say
    size: int = 0  # bytes this tag's image takes (shared layers counted in each)
    id: str = ""  # the engine's image id or the registry's manifest digest

    @property
    def app(self) -> str | None:
        return app_of(self.repository)

    @property
    def ref(self) -> str:
        return f"{self.repository}:{self.tag}"

    @property
    def key(self) -> str:
        """The store-independent name: `devloop/web:0123456789abcdef`."""
        return f"devloop/{self.app}:{self.tag}"


@dataclass(frozen=True)
class Plan:
    keep: tuple[StoredImage, ...]
    remove: tuple[StoredImage, ...]
    running: tuple[StoredImage, ...]  # older than the newest N but kept: an instance runs it

    @property
    def freed(self) -> int:
        """Bytes removing `remove` frees (about: each image id once, none that stays under another name)."""
        staying = {image.id for image in (*self.keep, *self.running) if image.id}
        sizes = {image.id or image.ref: image.size for image in self.remove if image.id not in staying}
        return sum(sizes.values())


def app_of(repository: str) -> str | None:
    """`devloop/web`, `localhost:5001/devloop/web`, `docker.io/devloop/web` -> `web`; else None."""
    parts = repository.split("/")
    if len(parts) >= 2 and parts[-2] == "devloop" and parts[-1]:
        return parts[-1]
    return None


def content_tag(image: StoredImage) -> bool:
    return image.app is not None and CONTENT_TAG.match(image.tag) is not None


def plan(
    images: Iterable[StoredImage], keep: int, in_use: Iterable[str] = (), in_use_ids: Iterable[str] = (),
    apps: Iterable[str] | None = None,
) -> Plan:  # fmt: skip
    """Per app, the newest `keep` content tags stay; the older go unless `in_use` names them
    (`devloop/web:tag`, any registry prefix) or their id is in `in_use_ids`. One tag may have
    several names in a store (`devloop/web:t` and `localhost:5001/devloop/web:t`): they go together.
    `apps`: only these apps' images (another project's on the same engine are not ours to judge)."""
    if keep < 1:
        raise ValueError("keep must be at least 1: the newest image of each app always stays")
    used = {_key(ref) for ref in in_use}
    used_ids = set(in_use_ids)
    wanted = None if apps is None else set(apps)
    by_app: dict[str, dict[str, list[StoredImage]]] = {}
    for image in images:
        if content_tag(image) and (wanted is None or image.app in wanted):
            by_app.setdefault(str(image.app), {}).setdefault(image.tag, []).append(image)
    kept: list[StoredImage] = []
    removed: list[StoredImage] = []
    running: list[StoredImage] = []
    for app in sorted(by_app):
        tags = by_app[app]
        newest_first = sorted(tags, key=lambda t: (max(i.created for i in tags[t]), t), reverse=True)
        for tag in newest_first[:keep]:
            kept += tags[tag]
        for tag in newest_first[keep:]:
            names = tags[tag]
            if any(i.key in used or (i.id and i.id in used_ids) for i in names):
                running += names
            else:
                removed += names
    return Plan(tuple(kept), tuple(removed), tuple(running))


def _key(ref: str) -> str:
    """A reference as `devloop/app:tag` when it is one of devloop's, else as it came."""
    name = ref.split("@", 1)[0]
    repository, colon, tag = name.rpartition(":")
    if not colon or "/" in tag:
        return ref
    app = app_of(repository)
    return f"devloop/{app}:{tag}" if app else ref
