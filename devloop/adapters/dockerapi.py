"""The Docker engine through the Docker SDK: ping, inspect, tag, push, containers.

Builds do not go through here (the SDK only drives the legacy builder); see
`devloop.build.builder`. Every SDK or connection error becomes a DevloopError.
"""

from __future__ import annotations

import os
from typing import Any

import docker
import docker.errors
import requests.exceptions

from devloop.errors import DockerUnavailableError

CONNECTION_ERRORS: tuple[type[BaseException], ...] = (
    docker.errors.DockerException,
    requests.exceptions.ConnectionError,
    ConnectionError,
    FileNotFoundError,
)


def engine_address() -> str:
    return os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")


def connect(timeout: float = 5.0) -> Any:
    """A DockerClient that answered a ping, or DockerUnavailableError."""
    try:
        client = docker.from_env(timeout=timeout)
        client.ping()
    except CONNECTION_ERRORS as exc:
        raise DockerUnavailableError(
            f"cannot reach the Docker engine at {engine_address()}: {describe(exc)}"
        ) from None
    return client


def describe(exc: BaseException) -> str:
    """A connection error in plain words."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    markers = ("Connection aborted", "No such file", "Connection refused", "Connection reset", "stream ended")
    if any(marker in text for marker in markers):
        return "the engine is not running or the socket does not exist"
    return text[:200]


def image_exists(client: Any, ref: str) -> bool:
    try:
        client.images.get(ref)
    except docker.errors.ImageNotFound:
        return False
    except CONNECTION_ERRORS as exc:
        raise DockerUnavailableError(f"the Docker engine stopped answering: {describe(exc)}") from None
    return True
