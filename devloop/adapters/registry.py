"""Image delivery to a cluster through a registry: push a content tag, only new layers travel.

Generic over registries; the kind provider's local-registry recipe (which container,
which network, which node files) lives with it in `devloop.providers.kind.registry`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from devloop.adapters.dockerapi import DockerEngine
from devloop.errors import DockerRefusedError, ProviderError

Progress = Callable[[str], None]


def registry_reference(registry: str, image: str) -> str:
    """`devloop/web:abc` pushed to `localhost:5001` is `localhost:5001/devloop/web:abc`."""
    return f"{registry.rstrip('/')}/{image}"


async def push(
    engine: DockerEngine, image: str, registry: str, progress: Progress
) -> str:
    """Tag `image` into `registry` and push it; the registry already has unchanged layers."""
    target = registry_reference(registry, image)
    repository, _, tag = target.rpartition(":")

    def run() -> None:
        engine.tag_image(image, repository, tag)
        pushed = 0
        for event in engine.push(repository, tag):
            if "error" in event:
                raise ProviderError(f"pushing {target} failed: {event['error']}")
            if event.get("status") == "Pushed":
                pushed += 1
        progress(f"pushed {target} ({pushed} new layer(s))")

    try:
        await asyncio.to_thread(run)
    except DockerRefusedError as exc:
        raise ProviderError(f"pushing {target} failed: {exc}") from None
    return target
