"""The builder's decisions that need no Docker build: skip when the tagged image exists, the engine's
answer when it is away (tests/build/test_builder_docker.py builds for real)."""

from __future__ import annotations

from pathlib import Path

import pytest

from devloop.build.builder import ImageBuilder
from devloop.core.buildlog import BuildOutput
from devloop.core.spec import AppSpec, BuildSpec
from devloop.errors import BuildError, DockerUnavailableError
from tests.fakes.docker import FakeDockerEngine


def dockerfile_app(folder: Path) -> AppSpec:
    (folder / "Dockerfile").write_text("FROM busybox:1.36\nUSER 1000\nCOPY . /app\n")
    (folder / "main.txt").write_text("v1\n")
    return AppSpec("web", folder, BuildSpec(folder, folder / "Dockerfile"))


async def test_an_image_with_the_same_inputs_is_not_built_again(tmp_path: Path) -> None:
    app = dockerfile_app(tmp_path)
    planned = ImageBuilder(None).plan(app).image
    engine = FakeDockerEngine(images=[planned])
    builder = ImageBuilder(None, engine, generated_dir=tmp_path / "gen")
    lines: list[BuildOutput] = []
    result = await builder.build(app, lines.append)
    assert result.skipped and result.image == planned and builder.current == {"web": planned}
    assert [(o.kind, o.text) for o in lines] == [("result", f"up to date: {planned}")]
    assert engine.called("image_present") == [(planned,)]


async def test_changed_inputs_need_a_build_and_force_skips_the_check(tmp_path: Path) -> None:
    app = dockerfile_app(tmp_path)
    engine = FakeDockerEngine(images=[ImageBuilder(None).plan(app).image])
    (tmp_path / "main.txt").write_text("v2\n")
    builder = ImageBuilder(None, engine, generated_dir=tmp_path / "gen")
    with pytest.raises(BuildError, match="no docker client to build with"):  # it went on to build
        await builder.build(app)
    engine.calls.clear()
    with pytest.raises(BuildError):
        await builder.build(app, force=True)
    assert engine.called("image_present") == [] and builder.current == {}


async def test_an_engine_that_went_away_is_one_clear_error(tmp_path: Path) -> None:
    engine = FakeDockerEngine()
    engine.fail("image_present", DockerUnavailableError("the Docker engine stopped answering"))
    with pytest.raises(DockerUnavailableError):
        await ImageBuilder(None, engine, generated_dir=tmp_path / "gen").build(dockerfile_app(tmp_path))
