"""The one error-mapping point of the Docker seam: SDK and connection exceptions become devloop's errors."""

from __future__ import annotations

import docker.errors
import pytest
import requests

from devloop.adapters.dockersdk import SdkDockerEngine
from devloop.errors import DockerNotFoundError, DockerRefusedError, DockerUnavailableError


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
    engine = SdkDockerEngine(_Client(docker.errors.APIError("500 Server Error", _response(500), "volume in use")))
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
