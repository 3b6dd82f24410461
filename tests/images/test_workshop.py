"""The workshop archive without Docker: FROM lines to base images (ARG defaults, stages, build
args), what is missing said before anything is written, the archive's members and manifest read
back, a corrupted item named, and the wheels that install with no index."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from devloop.core.spec import AppSpec, BuildSpec, ProjectSpec, ProviderKind
from devloop.images import archive
from devloop.images.packlist import missing, wanted_images
from devloop.images.wheels import closure, repack
from devloop.images.workshop import Item, Manifest, base_images
from tests.fakes.docker import FakeDockerEngine


@pytest.mark.parametrize(
    ("dockerfile", "args", "images"),
    [
        ("FROM python:3.12-slim\n", {}, ["python:3.12-slim"]),
        ("ARG PY=3.12\nARG BASE=python:${PY}-slim\nFROM $BASE AS deps\nRUN x\nFROM deps\n", {}, ["python:3.12-slim"]),
        ("ARG PY=3.12\nFROM python:$PY\n", {"PY": "3.13"}, ["python:3.13"]),
        ("FROM --platform=$BUILDPLATFORM golang:1.23 AS build\nFROM gcr.io/distroless/static\n"
         "COPY --from=build /app /app\n", {}, ["golang:1.23", "gcr.io/distroless/static"]),
        ("FROM scratch\nCOPY --from=busybox:1.36 /bin/sh /sh\n", {}, ["busybox:1.36"]),
        ("# syntax=docker/dockerfile:1\nFROM \\\n  node:22-slim   AS  base\nfrom base\n", {}, ["node:22-slim"]),
        ("FROM ${NOPE:-debian:bookworm}\n", {}, ["debian:bookworm"]),
        ("FROM a:1\nFROM a:1 AS again\nFROM b:2\n", {}, ["a:1", "b:2"]),
    ],
)  # fmt: skip
def test_base_images_of_a_dockerfile(dockerfile: str, args: dict[str, str], images: list[str]) -> None:
    assert base_images(dockerfile, args) == images


def test_the_images_of_a_kind_project_and_what_this_machine_lacks(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("ARG V=3.12\nFROM python:${V}-slim\n")
    app = AppSpec("web", tmp_path, BuildSpec(tmp_path, dockerfile=tmp_path / "Dockerfile"))
    prebuilt = AppSpec("cache", tmp_path, image="redis:7")
    project = ProjectSpec(file=tmp_path / "devloop.yaml", apps=(app, prebuilt), provider=ProviderKind.KIND)
    wanted = wanted_images(project, "kindest/node:v1.32.2")
    assert [(w.image, w.why) for w in wanted] == [
        ("kindest/node:v1.32.2", "kind node"), ("registry:2", "kind's local registry"),
        ("python:3.12-slim", "base image of web"), ("redis:7", "app cache"),
    ]  # fmt: skip
    engine = FakeDockerEngine(images=["kindest/node:v1.32.2", "registry:2", "redis:7"])
    assert missing(engine, wanted) == [
        "python:3.12-slim (base image of web) is not on this machine: run `docker pull python:3.12-slim`"
    ]
    docker_only = ProjectSpec(file=project.file, apps=(app,), provider=ProviderKind.DOCKER)
    assert [w.image for w in wanted_images(docker_only, "kindest/node:v1.32.2")] == ["python:3.12-slim"]


def write(path: Path, files: dict[str, bytes]) -> Manifest:
    writer = archive.ArchiveWriter(path)
    items = []
    for name, data in files.items():
        source = path.parent / name
        source.write_bytes(data)
        digest, size = writer.add_file(f"images/{name}", source)
        items.append(Item("image", name, f"images/{name}", digest, size, (name,)))
    manifest = Manifest("devloop.yaml", "docker", "0.1.0", tuple(items))
    writer.finish(manifest)
    return manifest


def test_the_archive_is_a_tar_whose_manifest_names_each_member_and_its_sha256(tmp_path: Path) -> None:
    manifest = write(tmp_path / "w.tar", {"a.tar": b"x" * 700, "b.tar": b""})
    assert not (tmp_path / "w.tar.partial").exists()
    with tarfile.open(tmp_path / "w.tar") as tar:
        assert tar.getnames() == ["images/a.tar", "images/b.tar", "devloop-workshop.json"]
        assert archive.read_manifest(tar, tmp_path / "w.tar") == manifest
        for item in manifest.items:
            archive.verify(tar, item)


def test_a_corrupted_item_is_named_and_a_cut_archive_said(tmp_path: Path) -> None:
    path = tmp_path / "w.tar"
    manifest = write(path, {"a.tar": b"x" * 700, "b.tar": b"y" * 10})
    data = bytearray(path.read_bytes())
    data[512 + 1536 + 3] ^= 0xFF  # inside b.tar's data (a.tar: header + two blocks)
    path.write_bytes(bytes(data))
    with tarfile.open(path) as tar:
        archive.verify(tar, manifest.items[0])
        with pytest.raises(archive.ArchiveError, match=r"^image b\.tar in the archive is corrupted"):
            archive.verify(tar, manifest.items[1])
    path.write_bytes(bytes(data[:1024]))
    with tarfile.open(path) as tar, pytest.raises(archive.ArchiveError, match="not a whole devloop workshop"):
        archive.read_manifest(tar, path)


def test_an_interrupted_pack_leaves_nothing(tmp_path: Path) -> None:
    writer = archive.ArchiveWriter(tmp_path / "w.tar")
    (tmp_path / "a").write_bytes(b"a")
    writer.add_file("images/a", tmp_path / "a")
    writer.abort()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a"]


def test_a_failing_save_names_the_image(tmp_path: Path) -> None:
    writer = archive.ArchiveWriter(tmp_path / "w.tar")
    try:
        with pytest.raises(archive.ArchiveError, match="docker image save devloop-no-such/image:1` failed"):
            asyncio.run(writer.add_image("images/x.tar", "devloop-no-such/image:1", lambda _line: None))
    finally:
        writer.abort()


def test_the_closure_follows_the_extras_a_requirement_names() -> None:
    names = {d.metadata["Name"].lower() for d in closure("textual")}
    assert {"textual", "rich", "markdown-it-py", "linkify-it-py"} <= names  # markdown-it-py[linkify]
    assert "devloop" not in names


def test_a_repacked_wheel_installs_with_no_index(tmp_path: Path) -> None:
    import importlib.metadata

    wheel = repack(importlib.metadata.distribution("pathspec"), tmp_path)
    target = tmp_path / "target"
    result = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-index", "--no-deps",
                             "--find-links", str(tmp_path), "--target", str(target), "pathspec"],
                            capture_output=True, text=True, timeout=120)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert wheel.name.startswith("pathspec-") and (target / "pathspec" / "__init__.py").is_file()
    check = subprocess.run([sys.executable, "-c", "import pathspec; print(pathspec.__file__)"],
                           env={"PYTHONPATH": str(target)}, capture_output=True, text=True)  # fmt: skip
    assert check.stdout.startswith(str(target))


def test_manifest_of_another_format_is_refused() -> None:
    with pytest.raises(ValueError, match="format 1"):
        Manifest.from_json('{"format": 2}')


def test_unpack_of_a_corrupted_archive_says_which_item_in_one_line_and_loads_nothing(tmp_path: Path) -> None:
    path = tmp_path / "w.tar"
    write(path, {"a.tar": b"x" * 700, "b.tar": b"y" * 10})
    data = bytearray(path.read_bytes())
    data[600] ^= 0xFF  # a.tar's first data block: checked before anything is loaded
    path.write_bytes(bytes(data))
    result = subprocess.run([sys.executable, "-m", "devloop", "unpack", str(path)], capture_output=True,
                            text=True, timeout=60, cwd=tmp_path, env={**os.environ, "DOCKER_HOST": "unix:///nonexistent"})  # fmt: skip
    assert result.returncode != 0 and "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and errors[0].startswith("error: image a.tar in the archive is corrupted")
    assert "loaded" not in result.stdout


def test_a_node_image_pinned_by_digest_is_packed_by_its_tag() -> None:
    from devloop.images.packlist import tagged

    pinned = "kindest/node:v1.32.2@sha256:" + "a" * 64
    engine = FakeDockerEngine(images=[pinned])  # pulled by digest: no tag on the engine
    assert tagged(engine, pinned) == "kindest/node:v1.32.2"
    assert engine.called("tag_image") == [(pinned, "kindest/node", "v1.32.2")]
    assert tagged(engine, "kindest/node:v1.32.2") == "kindest/node:v1.32.2"
    assert tagged(engine, "kindest/node@sha256:" + "b" * 64) == "kindest/node@sha256:" + "b" * 64


def test_a_cluster_made_after_unpack_uses_the_archives_node_image_by_tag(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import yaml

    from devloop.providers.kind.cluster_config import cluster_config

    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    assert archive.recorded_node_image() is None
    archive.record_node_image("kindest/node:v1.32.2")
    assert archive.recorded_node_image() == "kindest/node:v1.32.2"
    assert (tmp_path / "devloop" / "workshop.json").stat().st_mode & 0o077 == 0
    made = yaml.safe_load(cluster_config(node_image=archive.recorded_node_image()))
    assert made["nodes"][0]["image"] == "kindest/node:v1.32.2"
    assert "image" not in yaml.safe_load(cluster_config())["nodes"][0]
