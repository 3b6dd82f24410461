"""Image delivery through a registry, against a fake engine."""

from __future__ import annotations

import pytest

from devloop.adapters.registry import push
from devloop.errors import DockerRefusedError, ProviderError
from tests.fakes.docker import FakeDockerEngine

IMAGE = "devloop/web:0123456789abcdef"


async def test_push_tags_into_the_registry_and_counts_new_layers() -> None:
    engine = FakeDockerEngine(images=[IMAGE])
    engine.push_streams["localhost:5001/devloop/web:0123456789abcdef"] = [
        {"status": "Pushed", "id": "a"}, {"status": "Layer already exists", "id": "b"}, {"status": "Pushed", "id": "c"},
    ]  # fmt: skip
    lines: list[str] = []
    target = await push(engine, IMAGE, "localhost:5001/", lines.append)
    assert target == "localhost:5001/devloop/web:0123456789abcdef"
    assert engine.tags == [(IMAGE, "localhost:5001/devloop/web", "0123456789abcdef")]
    assert lines == [f"pushed {target} (2 new layer(s))"]


async def test_a_push_the_registry_refuses_is_one_provider_error() -> None:
    engine = FakeDockerEngine(images=[IMAGE])
    engine.push_streams["localhost:5001/devloop/web:0123456789abcdef"] = [{"error": "blob upload unknown"}]
    with pytest.raises(ProviderError, match=r"^pushing localhost:5001/devloop/web:\w+ failed: blob upload unknown$"):
        await push(engine, IMAGE, "localhost:5001", lambda _text: None)
    engine.push_streams.clear()
    engine.fail("push", DockerRefusedError("denied: requested access to the resource is denied"))
    with pytest.raises(ProviderError, match="failed: denied: requested access"):
        await push(engine, IMAGE, "localhost:5001", lambda _text: None)
