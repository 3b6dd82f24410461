"""The docker provider's reader threads, without Docker: a FakeDockerEngine scripts the streams."""

from __future__ import annotations

import asyncio
import threading

import pytest

from devloop.adapters.dockerapi import ContainerEvent
from devloop.core.events import InstanceStatus
from devloop.core.logbuffer import LogLine
from devloop.errors import DockerUnavailableError
from devloop.providers.docker.labels import LABEL_APP
from devloop.providers.docker.stream import _Handover, app_events, log_lines
from tests.fakes.docker import FakeDockerEngine


def event(app: str | None) -> ContainerEvent:
    return ContainerEvent("start", "c1", {LABEL_APP: app} if app else {})


async def test_events_come_as_app_names_per_burst_and_an_ended_stream_is_the_engine_gone() -> None:
    engine = FakeDockerEngine()
    engine.scripted_events = [event("web"), event(None), event("worker"), event("web")]
    seen: set[str] = set()
    events = app_events(lambda: engine, ["devloop.project=p"])
    while seen != {"web", "worker"}:  # one set per burst: the four events in one to three sets
        seen |= await anext(events)
    engine.events_end.set()  # the engine closes the stream
    with pytest.raises(DockerUnavailableError, match=r"^the Docker engine at .* is not answering: "):
        await anext(events)
    assert engine.called("events") == [(("devloop.project=p",),)]


INSTANCE = InstanceStatus("web", 1, "c0ffee" * 10, "running")
CHUNKS = [
    b"2024-05-01T10:00:00.000000001Z one\r\n2024-05-01T10:00:00.0000",
    b"00002Z two\n\n2024-05-01T10:00:00.000000003Z three\n",
]


def logs_engine() -> FakeDockerEngine:
    """An engine whose container INSTANCE wrote CHUNKS, as Docker frames writes."""
    engine = FakeDockerEngine()
    engine.log_chunks[INSTANCE.id] = CHUNKS
    return engine


@pytest.mark.parametrize("follow", [True, False])
async def test_a_log_is_split_into_lines_across_chunks_and_resumes_after_since(follow: bool) -> None:
    engine = logs_engine()
    lines = [line async for line in log_lines(lambda: engine, INSTANCE, 1714557600000000001, follow, None)]
    assert lines == [
        LogLine("web", "APP", "two", 1, INSTANCE.id, 1714557600000000002),
        LogLine("web", "APP", "three", 1, INSTANCE.id, 1714557600000000003),
    ]
    assert engine.called("log_stream") == [(INSTANCE.id, follow, 1714557600000000001, None, None)]


async def test_the_last_lines_are_asked_of_the_engine() -> None:
    engine = logs_engine()
    lines = [line.text async for line in log_lines(lambda: engine, INSTANCE, None, True, 2)]
    assert lines == ["one", "two", "three"]  # the engine does the tail: all it sends shows
    assert engine.called("log_stream") == [(INSTANCE.id, True, None, None, 2)]  # tail asked, no since


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
