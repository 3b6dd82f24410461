"""On the real engine, the socket reads answer what the SDK answers: the same containers, the same
inspect, the same log backlogs of a framed (no TTY) and a raw (TTY) container."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator

import pytest

from devloop.adapters import dockersdk
from devloop.adapters.dockerhttp import HttpDockerEngine, open_engine
from devloop.errors import DockerNotFoundError

pytestmark = pytest.mark.docker

SCRIPT = "for i in 1 2 3; do echo out $i; echo err $i >&2; done"


@pytest.fixture
def containers() -> Iterator[tuple[str, list[str]]]:
    label = f"devloop.test={uuid.uuid4().hex[:12]}"
    ids = []
    for tty in ([], ["-t"]):
        run = ["docker", "run", "-d", "--label", label, *tty, "busybox:1.36", "sh", "-c", SCRIPT]
        ids.append(subprocess.run(run, capture_output=True, text=True, check=True).stdout.strip())
    subprocess.run(["docker", "wait", *ids], capture_output=True, check=True)  # all written
    try:
        yield label, ids
    finally:
        subprocess.run(["docker", "rm", "-f", *ids], capture_output=True, check=False)


def test_reads_over_the_socket_answer_as_the_sdk_does(containers: tuple[str, list[str]]) -> None:
    label, ids = containers
    engine, sdk = open_engine(), dockersdk.open_engine()
    assert isinstance(engine, HttpDockerEngine)
    try:
        assert sorted(engine.containers([label]), key=lambda c: c.id) == sorted(
            sdk.containers([label]), key=lambda c: c.id
        )
        for ref in ids:
            assert engine.container(ref) == sdk.container(ref)
            assert engine.logs(ref, 4) == sdk.logs(ref, 4)
            for tail in (None, 2, 0):
                ours = b"".join(engine.log_stream(ref, follow=False, tail=tail))
                assert ours == b"".join(sdk.log_stream(ref, follow=False, tail=tail))
            lines = b"".join(engine.log_stream(ref, follow=False)).split(b"\n")
            assert len([line for line in lines if line.strip()]) == 6  # out and err, either way
        assert engine.version() == sdk.version()
        assert engine.image_present("busybox:1.36") and not engine.image_present("devloop/none:0")
        with pytest.raises(DockerNotFoundError):
            engine.container("devloop-no-such-container")
    finally:
        engine.close()
        sdk.close()
