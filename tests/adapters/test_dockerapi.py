"""The one error-mapping point of the Docker seam: SDK and connection exceptions become devloop's errors."""

from __future__ import annotations

import docker.errors
import pytest
import requests

from devloop.adapters.dockerapi import ContainerEvent, ContainerInfo, PortBinding
from devloop.adapters.dockerrecords import container_info, summary_info
from devloop.adapters.dockersdk import SdkDockerEngine
from devloop.errors import (
    DockerConflictError,
    DockerNotFoundError,
    DockerRefusedError,
    DockerUnavailableError,
)


class _Api:
    """A low-level SDK client whose every call raises what it was given."""

    def __init__(self, error: BaseException) -> None:
        self.error = error

    def __getattr__(self, name: str) -> object:
        def call(*_args: object, **_kwargs: object) -> object:
            raise self.error

        return call


class _Client:
    def __init__(self, error: BaseException) -> None:
        self.api = _Api(error)


def _response(status: int) -> requests.Response:
    response = requests.Response()
    response.status_code = status
    return response


def test_an_engine_that_says_no_is_refused_with_its_explanation() -> None:
    engine = SdkDockerEngine(
        _Client(docker.errors.APIError("500 Server Error", _response(500), "volume in use"))
    )
    with pytest.raises(DockerRefusedError, match=r"^volume in use$"):
        engine.remove_volume("data")


def test_a_missing_object_is_not_found_and_an_absent_image_is_just_absent() -> None:
    engine = SdkDockerEngine(_Client(docker.errors.NotFound("404", _response(404), "No such container: web")))
    with pytest.raises(DockerNotFoundError, match="No such container: web"):
        engine.container("web")
    assert engine.image_present("devloop/web:abc") is False


def test_an_engine_that_went_away_is_unavailable_naming_its_address(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", "unix:///run/gone.sock")
    engine = SdkDockerEngine(_Client(requests.exceptions.ConnectionError("Connection aborted.")))
    with pytest.raises(DockerUnavailableError) as caught:
        engine.containers(["devloop.project=x"])
    assert str(caught.value) == (
        "the Docker engine at unix:///run/gone.sock stopped answering: "
        "the engine is not running or the socket does not exist"
    )
    assert caught.value.exit_code == 3


def test_a_stream_that_breaks_halfway_is_mapped_too() -> None:
    class Broken(_Api):
        def pull(self, *_args: object, **_kwargs: object) -> object:
            def records() -> object:
                yield {"status": "Pulling fs layer", "id": "a"}
                raise docker.errors.APIError("500", _response(500), "unexpected EOF")

            return records()

    client = _Client(RuntimeError("unused"))
    client.api = Broken(RuntimeError("unused"))
    stream = SdkDockerEngine(client).pull("redis", "7")
    assert next(stream) == {"status": "Pulling fs layer", "id": "a"}
    with pytest.raises(DockerRefusedError, match="unexpected EOF"):
        next(stream)


class _Recording:
    """A low-level SDK client that records what each call was asked and answers `answers[name]`."""

    def __init__(self, answers: dict[str, object]) -> None:
        self.answers = answers
        self.asked: dict[str, tuple[tuple[object, ...], dict[str, object]]] = {}

    def __getattr__(self, name: str) -> object:
        def call(*args: object, **kwargs: object) -> object:
            self.asked[name] = (args, kwargs)
            return self.answers.get(name)

        return call


def test_a_followed_log_is_streamed_with_timestamps_since_and_tail() -> None:
    api = _Recording({"logs": iter([b"a\n", b"b\n"])})
    client = _Client(RuntimeError("unused"))
    client.api = api  # type: ignore[assignment]
    stream = SdkDockerEngine(client).log_stream("c1", follow=True, since_ns=1714557600000000001, tail=5)
    assert list(stream) == [b"a\n", b"b\n"]
    assert api.asked["logs"] == (
        ("c1",),
        {"stream": True, "follow": True, "timestamps": True, "since": 1714557600000000001 / 1e9, "tail": 5},
    )


def test_a_backlog_is_read_in_one_answer_and_events_are_filtered_by_label() -> None:
    record = {"Action": "die", "Actor": {"ID": "c1", "Attributes": {"devloop.app": "web"}}}
    api = _Recording({"logs": b"a\nb", "events": iter([record])})
    client = _Client(RuntimeError("unused"))
    client.api = api  # type: ignore[assignment]
    engine = SdkDockerEngine(client)
    assert list(engine.log_stream("c1", follow=False)) == [b"a\nb\n"]
    assert api.asked["logs"][1] == {"stream": False, "follow": False, "timestamps": True}
    assert list(engine.events(["devloop.project=p"])) == [ContainerEvent("die", "c1", {"devloop.app": "web"})]
    assert api.asked["events"][1] == {
        "decode": True,
        "filters": {"label": ["devloop.project=p"], "type": "container"},
    }


def test_an_exec_into_a_stopped_container_is_a_conflict() -> None:
    engine = SdkDockerEngine(
        _Client(docker.errors.APIError("409", _response(409), "container c1 is not running"))
    )
    with pytest.raises(DockerConflictError, match="is not running"):
        engine.exec_output("c1", ["true"])


def test_an_inspect_reads_what_the_provider_needs() -> None:
    info = container_info({
        "Id": "c1", "Name": "/devloop-web-1", "RestartCount": 2,
        "State": {"Status": "running", "Running": True, "OOMKilled": False, "ExitCode": 0,
                  "StartedAt": "2024-05-01T10:00:00Z", "Health": {"Status": "healthy"}},
        "Config": {"Labels": {"devloop.app": "web"}, "User": "1000", "Env": ["PORT=8080"]},
        "HostConfig": {"NetworkMode": "devloop-p", "Memory": 256 * 1024 * 1024},
        "NetworkSettings": {"Ports": {"8080/tcp": [{"HostIp": "127.0.0.1", "HostPort": "32768"}], "53/udp": None}},
    })  # fmt: skip
    assert info == ContainerInfo(
        "c1", "devloop-web-1", "running", {"devloop.app": "web"}, 0, (PortBinding(8080, 32768),), "devloop-p",
        running=True, restart_count=2, started_at="2024-05-01T10:00:00Z", memory_bytes=256 * 1024 * 1024,
        user="1000", env=("PORT=8080",), health="healthy",
    )  # fmt: skip
    listed = summary_info({"Id": "c2", "Names": ["/s"], "State": "exited", "HostConfig": {"NetworkMode": "container:c1"},
                           "Ports": [{"IP": "127.0.0.1", "PrivatePort": 80, "PublicPort": 1234, "Type": "tcp"}]})  # fmt: skip
    assert (listed.network_mode, listed.ports) == ("container:c1", (PortBinding(80, 1234),))
