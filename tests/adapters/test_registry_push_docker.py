"""Pushing to a shared registry for real: Debian's docker-registry with htpasswd and TLS made for the
test, the user's Docker credentials (a config.json in a temp DOCKER_CONFIG, or a credential helper),
the pod's reference by digest, and only changed layers sent (counted in the registry's own log)."""

from __future__ import annotations

import base64
import io
import ipaddress
import json
import os
import socket
import ssl
import stat
import subprocess
import sys
import tarfile
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import docker
import docker.errors
import pytest

from devloop.adapters import dockersdk
from devloop.adapters.registry import push
from devloop.errors import ProviderError
from tests.registry import Secured, docker_config, secured_registry

pytestmark = pytest.mark.docker


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[Secured]:
    with secured_registry(tmp_path / "registry") as secured:
        yield secured


@pytest.fixture
def images() -> Iterator[list[str]]:
    """Every image reference a test makes, removed from the engine afterwards."""
    made: list[str] = []
    yield made
    if made:
        subprocess.run(["docker", "rmi", "-f", *made], capture_output=True)


def tiny_image(images: list[str], changing: str, repository: str | None = None) -> str:
    """`FROM scratch` with a fixed layer and one that holds `changing`: a push of a new version
    sends one layer (and the config)."""
    files = {"Dockerfile": "FROM scratch\nCOPY base /base\nCOPY app /app\n", "base": "same", "app": changing}
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, text in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(text)
            tar.addfile(info, io.BytesIO(text.encode()))
    buffer.seek(0)
    tag = f"{repository or 'devloop/reg' + uuid.uuid4().hex[:8]}:{changing}"
    client = docker.from_env()
    try:
        client.images.build(fileobj=buffer, custom_context=True, tag=tag, rm=True)
    finally:
        client.close()
    images.append(tag)
    return tag


def manifest_digest(registry: Secured, repository: str, tag: str) -> str:
    """What the registry itself says the tag's manifest digest is (HTTPS, basic auth)."""
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    request = urllib.request.Request(
        f"https://{registry.address}/v2/{repository}/manifests/{tag}", method="HEAD",
        headers={"Authorization": "Basic " + base64.b64encode(f"{registry.user}:{registry.password}".encode()).decode(),
                 "Accept": "application/vnd.docker.distribution.manifest.v2+json"},
    )  # fmt: skip
    with urllib.request.urlopen(request, context=context, timeout=5) as answer:
        return str(answer.headers["Docker-Content-Digest"])


async def pushed(image: str, registry: str, lines: list[str]) -> str:
    engine = dockersdk.open_engine()  # docker-py reads DOCKER_CONFIG when the client is made
    try:
        return await push(engine, image, registry, lines.append)
    finally:
        engine.close()


async def test_a_push_with_credentials_is_by_digest_and_sends_only_changed_layers(
    registry: Secured, images: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = docker_config(tmp_path / "docker", registry.address, registry.user, registry.password)
    monkeypatch.setenv("DOCKER_CONFIG", str(config))
    target = f"{registry.address}/team-a"
    lines: list[str] = []
    app = f"devloop/reg{uuid.uuid4().hex[:8]}"
    first = await pushed(tiny_image(images, "one", app), target, lines)
    repository, _, digest = first.partition("@")
    images.append(f"{repository}:one")
    assert repository == f"{target}/{app}"
    assert digest == manifest_digest(
        registry, f"team-a/{app}", "one"
    )  # the pod runs what the registry stored
    assert registry.blob_uploads() == 3  # two layers and the config
    second = await pushed(tiny_image(images, "two", app), target, lines)
    images.append(f"{repository}:two")
    assert second == f"{repository}@{manifest_digest(registry, f'team-a/{app}', 'two')}" and second != first
    assert registry.blob_uploads() == 3 + 2  # the changed layer and the new config; `base` stayed
    assert "(1 new layer(s))" in lines[-1]
    assert registry.password not in "\n".join(lines)


HELPER = """#!{python}
import json, sys
with open({log!r}, "a") as log:
    log.write(" ".join(sys.argv[1:]) + " " + sys.stdin.read().strip() + "\\n")
print(json.dumps({{"ServerURL": {server!r}, "Username": {user!r}, "Secret": {secret!r}}}))
"""


async def test_a_credential_helper_gives_the_password(
    registry: Secured, images: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The docker-credential-* protocol: `get` with the server on stdin, a JSON answer on stdout.
    bin_dir, asked = tmp_path / "bin", tmp_path / "helper.log"
    bin_dir.mkdir()
    helper = bin_dir / "docker-credential-devlooptest"
    helper.write_text(HELPER.format(python=sys.executable, log=str(asked), server=registry.address,
                                    user=registry.user, secret=registry.password))  # fmt: skip
    helper.chmod(helper.stat().st_mode | stat.S_IXUSR)
    (tmp_path / "docker").mkdir()
    (tmp_path / "docker" / "config.json").write_text(
        json.dumps({"credHelpers": {registry.address: "devlooptest"}})
    )
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "docker"))
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    reference = await pushed(tiny_image(images, "helped"), registry.address, [])
    images.append(reference.split("@")[0] + ":helped")
    assert "@sha256:" in reference
    assert asked.read_text().splitlines()[0] == f"get {registry.address}"


async def test_bad_credentials_or_no_registry_say_which_and_the_fix_never_the_password(
    registry: Secured, images: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    wrong = "not-the-Pa55word"
    monkeypatch.setenv(
        "DOCKER_CONFIG", str(docker_config(tmp_path / "docker", registry.address, "dev", wrong))
    )
    image = tiny_image(images, "denied")
    with pytest.raises(ProviderError) as caught:
        await pushed(image, registry.address, [])
    shown = caught.value.render()
    assert f"the registry {registry.address} refused the credentials" in shown
    assert f"fix: `docker login {registry.address}`" in shown
    assert wrong not in shown and registry.password not in shown
    images.append(f"{registry.address}/{image}")
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        gone = f"127.0.0.1:{sock.getsockname()[1]}"
    with pytest.raises(ProviderError, match=f"cannot reach the registry {gone}"):
        await pushed(image, gone, [])
    images.append(f"{gone}/{image}")


def test_devloop_build_with_registry_pushes_what_it_built_and_says_the_fix_when_refused(
    registry: Secured, images: list[str], tmp_path: Path
) -> None:
    app = tmp_path / "app"
    app.mkdir()
    (app / "Dockerfile").write_text(f"FROM scratch\nCOPY hello /hello\n# {uuid.uuid4().hex}\n")
    (app / "hello").write_text("hi")
    (app / "devloop.yaml").write_text("apps: [{name: tiny, dockerfile: Dockerfile}]\n")
    good = docker_config(tmp_path / "good", registry.address, registry.user, registry.password)
    bad = docker_config(tmp_path / "bad", registry.address, registry.user, "wrong-Pa55")

    def build(config: Path) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "DOCKER_CONFIG": str(config)}
        argv = [sys.executable, "-m", "devloop", "build", "--registry", f"{registry.address}/team"]
        return subprocess.run(argv, cwd=app, env=env, capture_output=True, text=True, timeout=120)

    refused = build(bad)
    assert refused.returncode == 6, refused.stderr  # a ProviderError, one message, no traceback
    assert f"fix: `docker login {registry.address}`" in refused.stderr and "Traceback" not in refused.stderr
    assert "wrong-Pa55" not in refused.stdout + refused.stderr
    done = build(good)
    assert done.returncode == 0, done.stderr
    line = done.stdout.strip().splitlines()[-1]
    assert line.startswith(f"tiny: {registry.address}/team/devloop/tiny@sha256:"), done.stdout
    client = docker.from_env()
    try:
        tags = client.images.get(line.split(": ", 1)[1]).tags  # the built tag and the pushed one
    finally:
        client.close()
    images.extend(tags)


def docker0_gateway() -> str | None:
    """The default bridge's gateway address: on this host, yet not loopback (so dockerd checks TLS)."""
    client = docker.from_env()
    try:
        config = client.networks.get("bridge").attrs.get("IPAM", {}).get("Config") or [{}]
    except docker.errors.DockerException:
        return None
    finally:
        client.close()
    gateway = config[0].get("Gateway")
    if not gateway and config[0].get("Subnet"):  # an engine that lists none: the bridge takes the first
        gateway = str(ipaddress.ip_network(config[0]["Subnet"])[1])
    return str(gateway) if gateway else None


async def test_a_certificate_the_engine_does_not_trust_is_a_tls_message_with_the_fix(
    images: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gateway = docker0_gateway()
    if not gateway:
        pytest.skip("no default bridge network to serve a non-loopback registry on")
    with secured_registry(tmp_path / "registry", host=gateway) as registry:
        monkeypatch.setenv(
            "DOCKER_CONFIG",
            str(docker_config(tmp_path / "docker", registry.address, registry.user, registry.password)),
        )
        image = tiny_image(images, "untrusted")
        images.append(f"{registry.address}/{image}")
        with pytest.raises(ProviderError) as caught:
            await pushed(image, registry.address, [])
    shown = caught.value.render()
    assert f"the registry {registry.address} has a TLS problem: " in shown and "x509" in shown
    assert f"/etc/docker/certs.d/{registry.address}/ca.crt" in shown and registry.password not in shown
