"""Image delivery to a cluster through a registry: push a content tag, only new layers travel, and the
pods run the pushed manifest by digest.

Generic over registries; the kind provider's local-registry recipe (which container,
which network, which node files) lives with it in `devloop.providers.kind.registry`.
The engine pushes with the user's own Docker credentials: docker-py reads
`~/.docker/config.json` (or `$DOCKER_CONFIG`) and asks its `credsStore`/`credHelpers`
(`docker-credential-*`) for the registry's host, as `docker push` does; devloop never
sees or prints the password.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable

from devloop.adapters.dockerapi import DockerEngine
from devloop.errors import DockerRefusedError, ProviderError

Progress = Callable[[str], None]
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
_URL_CREDENTIALS = re.compile(r"(://)[^/@\s]+@")
_AUTH = re.compile(
    r"unauthorized|authentication required|no basic auth credentials|\bdenied\b"
    r"|incorrect username or password|\b401\b"
)
_TLS_WORDS = ("x509:", "tls:", "certificate signed by", "certificate is not", "certificate is valid for",
              "certificate has expired", "handshake failure",
              "server gave http response to https client")  # fmt: skip
_UNREACHABLE_WORDS = ("connection refused", "no such host", "i/o timeout", "network is unreachable",
                      "dial tcp", "connection reset", "timeout exceeded")  # fmt: skip


def registry_reference(registry: str, image: str) -> str:
    """`devloop/web:abc` pushed to `localhost:5001` is `localhost:5001/devloop/web:abc`."""
    return f"{registry.rstrip('/')}/{image}"


def split_tag(reference: str) -> tuple[str, str]:
    """(repository, tag) of `host:5000/team/web:1.2`; an untagged `host:5000/nginx` is `latest`."""
    name, colon, tag = reference.rpartition(":")
    if not colon or "/" in tag:  # that colon was the registry's port
        return reference, "latest"
    return name, tag


def registry_host(registry: str) -> str:
    """The part of `HOST[:PORT]/PREFIX` that `docker login` takes."""
    return registry.strip().split("/", 1)[0]


def push_error(registry: str, target: str, detail: str) -> ProviderError:
    """One message naming the registry and the fix, for what the engine said (credentials scrubbed)."""
    host = registry_host(registry)
    said = _URL_CREDENTIALS.sub(r"\1", detail.strip())[:300]
    lowered = said.lower()
    if any(word in lowered for word in _TLS_WORDS):
        return ProviderError(
            f"pushing {target}: the registry {host} has a TLS problem: {said}",
            hint=f"trust its CA in /etc/docker/certs.d/{host}/ca.crt (or fix its certificate), "
            f"then `docker login {host}`",
        )
    if any(word in lowered for word in _UNREACHABLE_WORDS):  # before the credentials: a port may read 401
        return ProviderError(
            f"pushing {target}: cannot reach the registry {host}: {said}",
            hint=f"check `registry:` / --registry ({registry}) and that the registry serves; "
            f"then `docker login {host}`",
        )
    if _AUTH.search(lowered):
        return ProviderError(
            f"pushing {target}: the registry {host} refused the credentials: {said}",
            hint=f"`docker login {host}` (devloop pushes with your Docker credentials)",
        )
    return ProviderError(f"pushing {target} failed: {said}")


async def push(engine: DockerEngine, image: str, registry: str, progress: Progress) -> str:
    """Tag `image` into `registry` and push it; the registry already has unchanged layers. Returns
    `repository@sha256:...` (the digest the registry stored) when the engine reports it."""
    repository, tag = split_tag(registry_reference(registry, image))
    target = f"{repository}:{tag}"

    def run() -> str:
        engine.tag_image(image, repository, tag)
        pushed = 0
        digest = ""
        for event in engine.push(repository, tag):
            if "error" in event:
                raise push_error(registry, target, str(event["error"]))
            if event.get("status") == "Pushed":
                pushed += 1
            aux = event.get("aux")
            if isinstance(aux, dict) and _DIGEST.match(str(aux.get("Digest", ""))):
                digest = str(aux["Digest"])
        reference = f"{repository}@{digest}" if digest else target
        progress(f"pushed {target} ({pushed} new layer(s))" + (f" as {digest[:19]}" if digest else ""))
        return reference

    try:
        return await asyncio.to_thread(run)
    except DockerRefusedError as exc:
        raise push_error(registry, target, str(exc)) from None
