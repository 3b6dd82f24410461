"""Image delivery through a registry, against a fake engine."""

from __future__ import annotations

import pytest

from devloop.adapters.registry import push, push_error, split_tag
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
    with pytest.raises(
        ProviderError, match=r"^pushing localhost:5001/devloop/web:\w+ failed: blob upload unknown$"
    ):
        await push(engine, IMAGE, "localhost:5001", lambda _text: None)
    engine.push_streams.clear()
    engine.fail("push", DockerRefusedError("denied: requested access to the resource is denied"))
    with pytest.raises(
        ProviderError, match="localhost:5001 refused the credentials: denied: requested access"
    ):
        await push(engine, IMAGE, "localhost:5001", lambda _text: None)


DIGEST = "sha256:" + "ab" * 32


async def test_the_pushed_reference_is_the_digest_the_engine_reports() -> None:
    engine = FakeDockerEngine(images=[IMAGE])
    engine.push_streams["reg.example.com/team/devloop/web:0123456789abcdef"] = [
        {"status": "Pushed", "id": "a"}, {"status": "0123456789abcdef: digest: ...", "progressDetail": {}},
        {"progressDetail": {}, "aux": {"Tag": "0123456789abcdef", "Digest": DIGEST, "Size": 528}},
    ]  # fmt: skip
    lines: list[str] = []
    reference = await push(engine, IMAGE, "reg.example.com/team", lines.append)
    assert reference == f"reg.example.com/team/devloop/web@{DIGEST}"
    assert lines == [
        f"pushed reg.example.com/team/devloop/web:0123456789abcdef (1 new layer(s)) as {DIGEST[:19]}"
    ]


@pytest.mark.parametrize(
    ("said", "expected", "fix"),
    [
        ('Get "https://reg.example.com:5000/v2/": x509: certificate signed by unknown authority',
         "the registry reg.example.com:5000 has a TLS problem", "/etc/docker/certs.d/reg.example.com:5000/ca.crt"),
        ("http: server gave HTTP response to HTTPS client", "has a TLS problem", "docker login reg.example.com:5000"),
        ("unauthorized: authentication required", "refused the credentials", "`docker login reg.example.com:5000`"),
        ('Get "https://10.0.0.9:54012/v2/": dial tcp 10.0.0.9:54012: connect: connection refused',
         "cannot reach the registry", "check `registry:`"),
        ("received unexpected HTTP status: 401 Unauthorized", "refused the credentials", "docker login"),
        ("denied: requested access to the resource is denied", "refused the credentials", "docker login"),
        ("blob upload unknown to registry", "devloop/web:1 failed: blob upload unknown", ""),
        ("no basic auth credentials", "refused the credentials", "`docker login reg.example.com:5000`"),
        ('Get "https://reg.example.com:5000/v2/": dial tcp 10.0.0.9:5000: connect: connection refused',
         "cannot reach the registry reg.example.com:5000", "check `registry:` / --registry"),
    ],
)  # fmt: skip
def test_a_refused_push_names_the_registry_and_the_fix(said: str, expected: str, fix: str) -> None:
    error = push_error("reg.example.com:5000/team", "reg.example.com:5000/team/devloop/web:1", said)
    assert expected in str(error) and fix in (error.hint or "")


def test_credentials_in_an_engine_message_are_never_shown() -> None:
    error = push_error(
        "reg.example.com", "t", 'Get "https://dev:hunter2@reg.example.com/v2/": dial tcp: i/o timeout'
    )
    assert "hunter2" not in error.render() and "https://reg.example.com/v2/" in str(error)


@pytest.mark.parametrize(
    ("reference", "expected"),
    [("localhost:5001/devloop/web:abc", ("localhost:5001/devloop/web", "abc")),
     ("localhost:5001/nginx", ("localhost:5001/nginx", "latest")),
     ("reg.example.com/team/nginx", ("reg.example.com/team/nginx", "latest")),
     ("reg.example.com/team/redis:7", ("reg.example.com/team/redis", "7"))],
)  # fmt: skip
def test_an_untagged_image_is_pushed_as_latest_not_split_at_the_port(
    reference: str, expected: tuple[str, str]
) -> None:
    assert split_tag(reference) == expected
