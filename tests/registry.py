"""A real registry process (Debian's docker-registry) on a free loopback port, for tests that push
or pull through one; optionally with htpasswd authentication and TLS made for the test."""

from __future__ import annotations

import base64
import contextlib
import json
import socket
import ssl
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.helpers import http_get, wait_until

REGISTRY_BINARY = Path("/usr/bin/docker-registry")


@dataclass(frozen=True)
class Secured:
    """A registry answering on `address` over TLS, to `user`:`password` only; its log at `log`."""

    address: str
    user: str
    password: str
    log: Path

    def blob_uploads(self) -> int:
        """The layer and config uploads the registry completed (each a PUT to a blob upload)."""
        lines = self.log.read_text(errors="replace").splitlines()
        return sum(
            1 for line in lines
            if "response completed" in line and "http.request.method=PUT" in line and "/blobs/uploads/" in line
        )  # fmt: skip


def _free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _serve(folder: Path, config: str, log: Path | None = None) -> subprocess.Popen[bytes]:
    if not REGISTRY_BINARY.exists():
        pytest.skip("docker-registry is not installed (apt-get install docker-registry)")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "registry.yml").write_text(config)
    out = log.open("wb") if log is not None else subprocess.DEVNULL
    try:
        return subprocess.Popen([str(REGISTRY_BINARY), "serve", str(folder / "registry.yml")],
                                stdout=out, stderr=out)  # fmt: skip
    finally:
        if log is not None and not isinstance(out, int):
            out.close()


@contextlib.contextmanager
def running_registry(folder: Path, port: int | None = None, delete: bool = False) -> Iterator[str]:
    """Yields `localhost:PORT`; the registry keeps its blobs under `folder`. `delete`: it allows
    DELETE of manifests (`storage: delete: enabled: true`; Debian's default config does not)."""
    port = port or _free_port()
    config = (
        f"version: 0.1\nstorage: {{filesystem: {{rootdirectory: {folder / 'blobs'}}}"
        + (", delete: {enabled: true}" if delete else "") + "}\n"
        f"http: {{addr: '127.0.0.1:{port}'}}\n"
    )
    process = _serve(folder, config)
    try:
        wait_until(
            lambda: http_get(f"http://127.0.0.1:{port}/v2/") is not None, timeout=20, what="the registry"
        )
        yield f"localhost:{port}"
    finally:
        process.terminate()
        process.wait(10)


def _answers_tls(host: str, port: int) -> bool:
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    try:
        with (
            socket.create_connection((host, port), timeout=1) as raw,
            context.wrap_socket(raw) as sock,
        ):
            sock.sendall(b"GET /v2/ HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
            return sock.recv(12).startswith(b"HTTP/1.")
    except OSError:
        return False


@contextlib.contextmanager
def secured_registry(
    folder: Path, user: str = "dev", password: str = "s3cret-Pa55", host: str = "127.0.0.1"
) -> Iterator[Secured]:
    """A registry on 127.0.0.1:PORT with a certificate made for the test and an htpasswd file (bcrypt,
    the only scheme the registry takes). dockerd treats 127.0.0.0/8 as an insecure registry: it
    speaks TLS to it without checking the certificate, so the host engine's config stays untouched.
    On another `host` (the docker0 gateway, say) dockerd checks the certificate, and refuses it."""
    bcrypt = pytest.importorskip("bcrypt")
    from tests.fakes.kubetls import certs

    port = _free_port(host)
    folder.mkdir(parents=True, exist_ok=True)  # the certificate and htpasswd files go in first
    made = certs()  # a server certificate for 127.0.0.1 and localhost, from the fake cluster's CA
    (folder / "cert.pem").write_bytes(made.server_cert)
    (folder / "key.pem").write_bytes(made.server_key)
    hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=4)).decode()  # few rounds: fast
    (folder / "htpasswd").write_text(f"{user}:{hashed}\n")
    log = folder / "registry.log"
    config = (
        "version: 0.1\nlog: {level: info, formatter: text, accesslog: {disabled: true}}\n"
        f"storage: {{filesystem: {{rootdirectory: {folder / 'blobs'}}}}}\n"
        f"http: {{addr: '{host}:{port}', tls: {{certificate: {folder / 'cert.pem'}, key: {folder / 'key.pem'}}}}}\n"
        f"auth: {{htpasswd: {{realm: devloop-test, path: {folder / 'htpasswd'}}}}}\n"
    )
    process = _serve(folder, config, log)
    try:
        wait_until(lambda: _answers_tls(host, port), timeout=20, what="the TLS registry")
        yield Secured(f"{host}:{port}", user, password, log)
    finally:
        process.terminate()
        process.wait(10)


def docker_config(folder: Path, registry: str, user: str, password: str) -> Path:
    """A DOCKER_CONFIG folder with credentials for `registry` (as `docker login` writes them)."""
    folder.mkdir(parents=True, exist_ok=True)
    auth = base64.b64encode(f"{user}:{password}".encode()).decode()
    (folder / "config.json").write_text(json.dumps({"auths": {registry: {"auth": auth}}}))
    return folder
