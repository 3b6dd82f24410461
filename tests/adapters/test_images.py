"""Pull policies and pull failures against a fake engine (tests/adapters/test_images_docker.py pulls for real)."""

from __future__ import annotations

import pytest

from devloop.adapters.images import ensure_image, ensure_image_off_loop
from devloop.core.pull import PullPolicy
from devloop.errors import DockerRefusedError, DockerUnavailableError, ImagePullError
from tests.fakes.docker import FakeDockerEngine

REF = "registry.example:5000/team/redis:7"


def test_missing_pulls_once_then_never_again() -> None:
    engine = FakeDockerEngine()
    lines: list[str] = []
    ensure_image(engine, REF, PullPolicy.MISSING, lines.append)
    assert engine.called("pull") == [("registry.example:5000/team/redis", "7")]
    assert lines[0] == f"pulling {REF} from registry.example:5000" and lines[-1].startswith(f"pulled {REF} (")
    ensure_image(engine, REF, PullPolicy.MISSING, lines.append)
    assert len(engine.called("pull")) == 1  # present now: `missing` does not pull again


def test_never_refuses_a_missing_image_with_the_fix_and_always_pulls_a_present_one() -> None:
    engine = FakeDockerEngine()
    with pytest.raises(ImagePullError, match=r"`pull: never` is set: run `docker pull .*`, or set `pull: missing`"):
        ensure_image(engine, REF, PullPolicy.NEVER, lambda _text: None)
    assert engine.called("pull") == []
    engine.images.add(REF)
    ensure_image(engine, REF, PullPolicy.ALWAYS, lambda _text: None)
    assert len(engine.called("pull")) == 1


def test_a_refused_pull_names_image_registry_and_the_fix() -> None:
    engine = FakeDockerEngine()
    engine.pull_streams[REF] = [{"error": "x", "errorDetail": {"message": "manifest unknown: manifest unknown"}}]
    with pytest.raises(ImagePullError) as caught:
        ensure_image(engine, REF, PullPolicy.MISSING, lambda _text: None)
    assert str(caught.value) == (
        "cannot pull team/redis:7 from registry.example:5000: manifest unknown: manifest unknown"
        " (check the name and tag)"
    )


def test_an_engine_error_during_the_pull_is_a_pull_error_and_a_present_copy_is_used() -> None:
    engine = FakeDockerEngine(images=[REF])
    engine.fail("pull", DockerRefusedError("unauthorized: authentication required"))
    lines: list[str] = []
    ensure_image(engine, REF, PullPolicy.ALWAYS, lines.append)
    assert lines[-1] == (
        "cannot pull team/redis:7 from registry.example:5000: unauthorized: authentication required"
        " (run `docker login` for this registry); using the copy on this machine"
    )


def test_an_engine_that_went_away_is_not_a_pull_error() -> None:
    engine = FakeDockerEngine()
    engine.fail("image_present", DockerUnavailableError("the Docker engine stopped answering"))
    with pytest.raises(DockerUnavailableError):
        ensure_image(engine, REF, PullPolicy.MISSING, lambda _text: None)


async def test_off_the_loop_its_progress_comes_back_to_the_loop() -> None:
    engine = FakeDockerEngine()
    lines: list[str] = []
    await ensure_image_off_loop(engine, REF, PullPolicy.MISSING, lines.append)
    assert REF in engine.images and lines[0].startswith(f"pulling {REF}")
