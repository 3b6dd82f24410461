"""Image delivery to a cluster through a registry: push a content tag, only new layers travel.

Generic over registries; the kind provider's local-registry recipe (which container,
which network, which node files) lives with it in `devloop.providers.kind.registry`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import docker.errors

from devloop.adapters.dockerapi import CONNECTION_ERRORS, describe
from devloop.errors import DockerUnavailableError, ProviderError

Progress = Callable[[str], None]


def registry_reference(registry: str, image: str) -> str:
    """`devloop/web:abc` pushed to `localhost:5001` is `localhost:5001/devloop/web:abc`."""
    return f"{registry.rstrip('/')}/{image}"


async def push(client: Any, image: str, registry: str, progress: Progress) -> str:
    """Tag `image` into `registry` and push it; the registry already has unchanged layers."""
    target = registry_reference(registry, image)
    repository, _, tag = target.rpartition(":")

    def run() -> None:
        client.images.get(image).tag(repository, tag)
        pushed = 0
        for event in client.api.push(repository, tag=tag, stream=True, decode=True):
            if "error" in event:
                raise ProviderError(f"pushing {target} failed: {event['error']}")
            if event.get("status") == "Pushed":
                pushed += 1
        progress(f"pushed {target} ({pushed} new layer(s))")

    try:
        await asyncio.to_thread(run)
    except docker.errors.APIError as exc:
        raise ProviderError(f"pushing {target} failed: {exc.explanation or exc}") from None
    except CONNECTION_ERRORS as exc:
        raise DockerUnavailableError(f"the Docker engine is not answering: {describe(exc)}") from None
    return target
