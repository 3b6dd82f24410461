"""Choosing the docker client: fake clients on PATH answer as the real ones do."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from devloop.adapters import dockercli
from devloop.adapters.dockercli import Builder
from devloop.errors import ToolMissingError


def fake_docker(folder: Path, version: str, buildx: bool) -> Path:
    folder.mkdir(parents=True)
    script = folder / "docker"
    buildx_branch = (
        'echo "github.com/docker/buildx v0.14.0"; exit 0'
        if buildx
        else ("echo \"docker: 'buildx' is not a docker command.\" >&2; exit 1")
    )
    script.write_text(
        "#!/bin/sh\n"
        f'if [ "$1" = "--version" ]; then echo "Docker version {version}, build abc"; exit 0; fi\n'
        f'if [ "$1" = "buildx" ]; then {buildx_branch}; fi\n'
        "exit 1\n"
    )
    script.chmod(0o755)
    return script


@pytest.fixture(autouse=True)
def no_cache() -> None:
    dockercli._cache.clear()


def test_prefers_a_classic_client_with_buildkit_over_a_new_one_without_buildx(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    new = fake_docker(tmp_path / "a", "28.2.2", buildx=False)
    old = fake_docker(tmp_path / "b", "20.10.24+dfsg1", buildx=False)
    monkeypatch.setenv("PATH", f"{new.parent}{os.pathsep}{old.parent}")
    monkeypatch.delenv("DEVLOOP_DOCKER", raising=False)
    client = dockercli.detect()
    assert client.path == str(old) and client.builder is Builder.CLASSIC_BUILDKIT
    assert client.build_env()["DOCKER_BUILDKIT"] == "1"
    assert client.build_argv() == [str(old), "build", "--progress=plain"]


def test_buildx_wins_when_present(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    new = fake_docker(tmp_path / "a", "28.2.2", buildx=True)
    monkeypatch.setenv("PATH", str(new.parent))
    monkeypatch.delenv("DEVLOOP_DOCKER", raising=False)
    client = dockercli.detect()
    assert client.builder is Builder.BUILDX
    assert client.build_argv()[1:4] == ["buildx", "build", "--load"]


def test_legacy_builder_when_nothing_supports_buildkit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    new = fake_docker(tmp_path / "a", "28.2.2", buildx=False)
    monkeypatch.setenv("PATH", str(new.parent))
    monkeypatch.delenv("DEVLOOP_DOCKER", raising=False)
    client = dockercli.detect()
    assert client.builder is Builder.LEGACY and not client.buildkit
    assert client.build_env()["DOCKER_BUILDKIT"] == "0"


def test_configured_client_is_used_as_is(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_docker(tmp_path / "a", "20.10.24", buildx=False)
    chosen = fake_docker(tmp_path / "b", "28.2.2", buildx=False)
    monkeypatch.setenv("PATH", str(tmp_path / "a"))
    monkeypatch.setenv("DEVLOOP_DOCKER", str(chosen))
    assert dockercli.detect().path == str(chosen)


def test_no_client_at_all(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("DEVLOOP_DOCKER", raising=False)
    with pytest.raises(ToolMissingError, match="no working docker client"):
        dockercli.detect()
    monkeypatch.setenv("DEVLOOP_DOCKER", "/nowhere/docker")
    with pytest.raises(ToolMissingError, match="was not found"):
        dockercli.detect()
