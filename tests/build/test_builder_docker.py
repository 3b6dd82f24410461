"""Builds on the real Docker engine, from the local base images."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from devloop.adapters import dockercli
from devloop.adapters.dockersdk import SdkDockerEngine
from devloop.build.builder import ImageBuilder
from devloop.config.loader import load_project
from devloop.core.buildlog import BuildOutput
from devloop.core.spec import AppSpec
from devloop.errors import BuildError, DockerUnavailableError
from tests.helpers import http_get, processes_matching, wait_until

pytestmark = pytest.mark.docker
SAMPLES = Path(__file__).resolve().parents[2] / "samples"


@pytest.fixture(scope="module")
def engine() -> Iterator[docker.DockerClient]:
    client = docker.from_env()
    yield client
    client.close()


@pytest.fixture
def builder(engine: docker.DockerClient) -> ImageBuilder:
    return ImageBuilder(dockercli.detect(), SdkDockerEngine(engine))


def load_app(folder: Path, text: str | None = None) -> AppSpec:
    if text is not None:
        (folder / "devloop.yaml").write_text(text)
    return load_project(folder / "devloop.yaml", {}).apps[0]


def copy_sample(name: str, tmp_path: Path) -> Path:
    target = tmp_path / name
    shutil.copytree(SAMPLES / name, target)
    return target


def run_and_get(engine: docker.DockerClient, image: str) -> str:
    container = engine.containers.run(image, detach=True, ports={"8080/tcp": ("127.0.0.1", None)})
    try:
        container.reload()
        port = container.attrs["NetworkSettings"]["Ports"]["8080/tcp"][0]["HostPort"]
        return wait_until(
            lambda: http_get(f"http://127.0.0.1:{port}/"), timeout=30, what=f"{image} to answer"
        )
    finally:
        container.remove(force=True)


@pytest.mark.parametrize(
    ("sample", "greeting"),
    [
        ("python-web", "hello from python-web"),
        ("node-web", "hello from node-web"),
        ("go-web", "hello from go-web"),
        ("static-site", "hello from static-site"),
    ],
)
def test_generated_dockerfile_builds_and_serves(
    engine: docker.DockerClient, builder: ImageBuilder, tmp_path: Path, sample: str, greeting: str
) -> None:
    folder = copy_sample(sample, tmp_path)
    (folder / ".env").write_text("API_TOKEN=planted-secret-value\n")
    app = load_app(folder)
    result = asyncio.run(builder.build(app))
    assert result.image.startswith(f"devloop/{app.name}:") and not result.image.endswith(":latest")
    assert greeting in run_and_get(engine, result.image)
    image = engine.images.get(result.image)
    assert image.attrs["Config"]["User"] not in ("", "0", "root")
    # The .env never reaches the image: list the image's files through a container.
    listing = (
        engine.containers.run(
            result.image,
            ["/bin/sh", "-c", "find / -name .env -xdev 2>/dev/null; echo END"],
            entrypoint=[],
            remove=True,
            user="0",
        )
        if sample != "go-web"
        else b"END"
    )
    assert b".env" not in listing


def test_unchanged_app_is_not_rebuilt(builder: ImageBuilder, tmp_path: Path) -> None:
    folder = copy_sample("python-web", tmp_path)
    app = load_app(folder)
    first = asyncio.run(builder.build(app))
    lines: list[BuildOutput] = []
    second = asyncio.run(builder.build(app, lines.append))
    assert second.skipped and second.image == first.image
    assert [o.kind for o in lines] == ["result"]  # no docker build ran, so no build output
    (folder / "app.py").write_text((folder / "app.py").read_text() + f"# {uuid.uuid4()}\n")
    third = asyncio.run(builder.build(app))
    assert not third.skipped and third.image != first.image


def test_failed_build_names_the_step_and_keeps_the_last_good_image(
    engine: docker.DockerClient, builder: ImageBuilder, tmp_path: Path
) -> None:
    (tmp_path / "Dockerfile").write_text(
        'FROM python:3.12-slim\nCOPY app.py /app.py\nRUN python /app.py\nCMD ["sleep", "1"]\n'
    )
    (tmp_path / "app.py").write_text("print('v1 ok')\n")
    app = load_app(tmp_path, "apps: [{name: failing}]\n")
    good = asyncio.run(builder.build(app))
    (tmp_path / "app.py").write_text("print('about to break')\nraise SystemExit(7)\n")
    with pytest.raises(BuildError) as info:
        asyncio.run(builder.build(app))
    error = info.value
    assert error.step == "[3/3] RUN python /app.py"
    assert "about to break" in error.last_lines
    assert "exit code: 7" in str(error)
    assert builder.current["failing"] == good.image
    engine.images.get(good.image)  # still there


def test_dockerfile_syntax_error_is_reported_with_its_line(builder: ImageBuilder, tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM python:3.12-slim\nFORM oops\n")
    app = load_app(tmp_path, "apps: [{name: syntax}]\n")
    with pytest.raises(BuildError, match="line 2") as info:
        asyncio.run(builder.build(app))
    assert "FORM" in str(info.value)


def test_cancelling_a_build_leaves_no_process(builder: ImageBuilder, tmp_path: Path) -> None:
    nonce = uuid.uuid4().hex[:8]
    seconds = 300 + int(nonce, 16) % 97  # a sleep no other process runs
    (tmp_path / "Dockerfile").write_text(f"FROM python:3.12-slim\nRUN echo {nonce} && sleep {seconds}\n")
    app = load_app(tmp_path, f"apps: [{{name: cancel, build_args: {{NONCE: '{nonce}'}}}}]\n")

    async def scenario() -> None:
        started = asyncio.Event()

        def sink(out: BuildOutput) -> None:
            if out.text == nonce:
                started.set()

        task = asyncio.create_task(builder.build(app, sink))
        await asyncio.wait_for(started.wait(), 60)
        assert processes_matching(f"sleep {seconds}"), "the RUN step should be running"
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(scenario())
    assert processes_matching(f"NONCE={nonce}") == []  # the docker client is gone at once
    wait_until(lambda: processes_matching(f"sleep {seconds}") == [], timeout=30, what="the RUN step to stop")


def test_secret_looking_build_arg_warns(builder: ImageBuilder, tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM python:3.12-slim\nARG API_TOKEN\n")
    (tmp_path / ".env").write_text("X=1\n")
    app = load_app(tmp_path, "apps: [{name: args, build_args: {API_TOKEN: not-shown}}]\n")
    plan = builder.plan(app)
    assert any("API_TOKEN looks like a secret" in w for w in plan.warnings)
    assert any(".env files are in the build context" in w for w in plan.warnings)
    assert any("Dockerfile runs as root" in w for w in plan.warnings)
    assert all("not-shown" not in w for w in plan.warnings)


def test_dockerignore_excluding_the_dockerfile_warns_and_still_builds(
    builder: ImageBuilder, tmp_path: Path
) -> None:
    (tmp_path / "Dockerfile").write_text("FROM python:3.12-slim\nCOPY . /src\n")
    (tmp_path / ".dockerignore").write_text("Dockerfile\n")
    app = load_app(tmp_path, "apps: [{name: ignored-df}]\n")
    warnings: list[str] = []
    asyncio.run(builder.build(app, lambda o: warnings.append(o.text) if o.kind == "warning" else None))
    assert any(".dockerignore excludes Dockerfile" in w for w in warnings)


def test_docker_down_is_one_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/dead.sock")
    (tmp_path / "Dockerfile").write_text("FROM python:3.12-slim\n")
    load_app(tmp_path, "apps: [{name: down}]\n")
    from devloop.adapters import dockersdk

    with pytest.raises(DockerUnavailableError, match="cannot reach the Docker engine"):
        ImageBuilder(dockercli.detect(), dockersdk.open_engine(timeout=2))
    result = subprocess.run(
        [sys.executable, "-m", "devloop", "build"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "DOCKER_HOST": f"unix://{tmp_path}/dead.sock"},
    )
    assert result.returncode == 3 and "Traceback" not in result.stderr
    assert "error: cannot reach the Docker engine" in result.stderr
