"""Images that are not on this machine are pulled, for real: a registry process on loopback, an
image pushed to it and removed locally, then a service and an `image:` app that need it."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from devloop.adapters.dockercli import detect
from devloop.adapters.dockersdk import SdkDockerEngine
from devloop.adapters.images import ensure_image
from devloop.core.pull import PullPolicy
from devloop.core.services import ServiceSpec, exact_type
from devloop.core.spec import AppSpec, HealthCheck, HealthCheckType, ProjectSpec
from devloop.errors import ImagePullError
from devloop.providers.docker.provider import DockerProvider
from tests.registry import running_registry

pytestmark = pytest.mark.docker


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with running_registry(tmp_path_factory.mktemp("registry")) as address:
        yield address


@pytest.fixture
def client() -> Iterator[docker.DockerClient]:
    client = docker.from_env()
    yield client
    client.close()


def pushed_only(registry: str, base: str, tmp_path: Path) -> str:
    """An image of `base` plus a layer of its own, in the registry and no longer on this machine."""
    ref = f"{registry}/devloop-pull/{base.split(':')[0]}:{uuid.uuid4().hex[:8]}"
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "Dockerfile").write_text(
        f"FROM {base}\nLABEL devloop.pull-test={uuid.uuid4().hex}\nCOPY Dockerfile /tmp/pulled-{uuid.uuid4().hex}\n"
    )
    docker_cli = detect().path
    subprocess.run([docker_cli, "build", "-q", "-t", ref, str(tmp_path)], check=True, capture_output=True)
    subprocess.run([docker_cli, "push", ref], check=True, capture_output=True)
    subprocess.run([docker_cli, "rmi", ref], check=True, capture_output=True)
    return ref


def test_a_missing_image_is_pulled_with_progress_and_never_means_never(
    client: docker.DockerClient, registry: str, tmp_path: Path
) -> None:
    ref = pushed_only(registry, "busybox:1.36", tmp_path)
    with pytest.raises(ImagePullError, match=rf"image {ref} is not on this machine and `pull: never` is set"):
        ensure_image(SdkDockerEngine(client), ref, PullPolicy.NEVER, lambda _text: None)
    lines: list[str] = []
    ensure_image(SdkDockerEngine(client), ref, PullPolicy.MISSING, lines.append)
    assert lines[0] == f"pulling {ref} from {registry}"
    assert any(line.startswith(f"pulling {ref}: ") and "layer(s)" in line for line in lines[1:-1])
    assert lines[-1].startswith(f"pulled {ref} (") and lines[-1].endswith("s")
    assert client.images.get(ref)  # it is here now
    again: list[str] = []
    ensure_image(SdkDockerEngine(client), ref, PullPolicy.MISSING, again.append)
    assert again == []  # present: `missing` does not pull again
    ensure_image(SdkDockerEngine(client), ref, PullPolicy.ALWAYS, again.append)
    assert again[0] == f"pulling {ref} from {registry}"
    client.images.remove(ref)


def test_a_failed_pull_is_one_message_naming_image_registry_and_reason(
    client: docker.DockerClient, registry: str
) -> None:
    with pytest.raises(ImagePullError) as caught:
        ensure_image(SdkDockerEngine(client), f"{registry}/devloop-pull/nothing:1", PullPolicy.MISSING, lambda _text: None)
    message = str(caught.value)
    assert message.startswith(f"cannot pull devloop-pull/nothing:1 from {registry}: ")
    assert "(check the name and tag)" in message and "\n" not in message


async def test_a_service_and_an_image_app_start_from_images_they_pulled(
    client: docker.DockerClient, registry: str, tmp_path: Path
) -> None:
    redis = pushed_only(registry, "redis:7", tmp_path / "redis")
    web = pushed_only(registry, "busybox:1.36", tmp_path / "web")
    kind = exact_type("redis")
    assert kind is not None
    service = ServiceSpec("cache", kind, image_override=redis)
    app = AppSpec("web", tmp_path, image=web, command="sleep 3600", services=("cache",),
                  health=HealthCheck(HealthCheckType.PROCESS, timeout_s=30))  # fmt: skip
    provider = DockerProvider(ProjectSpec(tmp_path / "devloop.yaml", (app,), services=(service,)))
    progress: list[str] = []
    try:
        image = await provider.deliver(app, web, progress.append)
        await provider.deploy(app, image, progress.append)
        assert f"pulling {web} from {registry}" in progress
        assert f"pulling {redis} from {registry}" in progress
        assert any(line.startswith(f"pulled {redis} (") for line in progress)
        assert "service cache is ready" in progress
    finally:
        await provider.remove(None, purge=True)
        await provider.close()
        for ref in (redis, web):
            subprocess.run([detect().path, "rmi", "-f", ref], capture_output=True)
