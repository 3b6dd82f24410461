"""A real registry process (Debian's docker-registry) on a free loopback port, for tests that push
or pull through one."""

from __future__ import annotations

import contextlib
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import http_get, wait_until

REGISTRY_BINARY = Path("/usr/bin/docker-registry")


@contextlib.contextmanager
def running_registry(folder: Path, port: int | None = None) -> Iterator[str]:
    """Yields `localhost:PORT`; the registry keeps its blobs under `folder`."""
    if not REGISTRY_BINARY.exists():
        pytest.skip("docker-registry is not installed (apt-get install docker-registry)")
    if port is None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
    config = folder / "registry.yml"
    config.write_text(
        f"version: 0.1\nstorage: {{filesystem: {{rootdirectory: {folder / 'blobs'}}}}}\n"
        f"http: {{addr: '127.0.0.1:{port}'}}\n"
    )
    process = subprocess.Popen([str(REGISTRY_BINARY), "serve", str(config)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        wait_until(
            lambda: http_get(f"http://127.0.0.1:{port}/v2/") is not None, timeout=20, what="the registry"
        )
        yield f"localhost:{port}"
    finally:
        process.terminate()
        process.wait(10)
