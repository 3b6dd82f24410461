"""The docker provider's reader threads, without Docker: a scripted client stands in for the SDK's."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest

from devloop.core.events import InstanceStatus
from devloop.core.logbuffer import LogLine
from devloop.errors import DockerUnavailableError
from devloop.providers.docker.labels import LABEL_APP
from devloop.providers.docker.stream import _Handover, app_events, log_lines


def event(app: str | None) -> dict[str, Any]:
    return {"Type": "container", "Actor": {"Attributes": {LABEL_APP: app} if app else {}}}


class EventsClient:
    """`client.events()` answers the scripted events; once `release` is set the stream ends (as when
    the engine stops)."""

    def __init__(self, events: list[dict[str, Any]]) -> None:
        self.scripted = events
        self.release = threading.Event()
        self.filters: dict[str, Any] = {}

    def __call__(self) -> EventsClient:
        return self

    def events(self, decode: bool, filters: dict[str, Any]) -> Iterator[dict[str, Any]]:
        assert decode
        self.filters = filters
        return self._stream()

    def _stream(self) -> Iterator[dict[str, Any]]:
        yield from self.scripted
        self.release.wait(10)


async def test_events_come_as_app_names_per_burst_and_an_ended_stream_is_the_engine_gone() -> None:
    client = EventsClient([event("web"), event(None), event("worker"), event("web")])
    seen: set[str] = set()
    events = app_events(client, ["devloop.project=p"])
    while seen != {"web", "worker"}:  # one set per burst: the four events in one to three sets
        seen |= await anext(events)
    client.release.set()
    with pytest.raises(DockerUnavailableError, match=r"^the Docker engine at .* is not answering: "):
        await anext(events)
    assert client.filters == {"label": ["devloop.project=p"], "type": "container"}


class LogsClient:
    """`client.containers.get(id).logs(...)`: the scripted chunks, as Docker frames writes."""

    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks = chunks
        self.kwargs: dict[str, Any] = {}
        self.containers = SimpleNamespace(get=lambda _id: SimpleNamespace(logs=self.logs))

    def __call__(self) -> LogsClient:
        return self

    def logs(self, **kwargs: Any) -> Iterator[bytes] | bytes:
        self.kwargs = kwargs
        return iter(self.chunks) if kwargs["stream"] else b"".join(self.chunks)


INSTANCE = InstanceStatus("web", 1, "c0ffee" * 10, "running")
CHUNKS = [
    b"2024-05-01T10:00:00.000000001Z one\r\n2024-05-01T10:00:00.0000",
    b"00002Z two\n\n2024-05-01T10:00:00.000000003Z three\n",
]


@pytest.mark.parametrize("follow", [True, False])
async def test_a_log_is_split_into_lines_across_chunks_and_resumes_after_since(follow: bool) -> None:
    client = LogsClient(CHUNKS)
    lines = [line async for line in log_lines(client, INSTANCE, 1714557600000000001, follow, None)]
    assert lines == [
        LogLine("web", "APP", "two", 1, INSTANCE.id, 1714557600000000002),
        LogLine("web", "APP", "three", 1, INSTANCE.id, 1714557600000000003),
    ]
    assert client.kwargs == {
        "stream": follow,
        "follow": follow,
        "timestamps": True,
        "since": 1714557600000000001 / 1e9,
    }


async def test_the_last_lines_are_asked_of_the_engine() -> None:
    client = LogsClient(CHUNKS)
    lines = [line.text async for line in log_lines(client, INSTANCE, None, True, 2)]
    assert lines == ["one", "two", "three"]  # the engine does the tail: all it sends shows
    assert client.kwargs["tail"] == 2 and "since" not in client.kwargs


async def test_lines_from_a_thread_arrive_in_order_in_fewer_batches_than_lines() -> None:
    handover = _Handover(asyncio.get_running_loop())
    sent = [LogLine("web", "APP", str(i)) for i in range(5000)]

    def reader() -> None:
        for line in sent:
            handover.add(line)
        handover.end()

    thread = threading.Thread(target=reader)
    thread.start()
    batches = [batch async for batch in handover.batches()]
    thread.join()
    assert [line for batch in batches for line in batch] == sent
    assert len(batches) < len(sent)
