"""HTTP/1.1 framing on in-memory streams: what a request head becomes, how a response is delimited."""

from __future__ import annotations

import asyncio

import pytest

from devloop.router.http1 import BadRequest, copy_chunked, read_request, response_framing, status_of


def stream(data: bytes) -> asyncio.StreamReader:
    reader = asyncio.StreamReader(limit=64 * 1024)
    reader.feed_data(data)
    reader.feed_eof()
    return reader


class Sink:
    def __init__(self) -> None:
        self.data = b""

    def write(self, data: bytes) -> None:
        self.data += data

    async def drain(self) -> None:
        pass


async def test_the_forwarded_head_drops_client_forwarding_headers_and_adds_the_routers() -> None:
    request = await read_request(
        stream(b"GET /a?b=1 HTTP/1.1\r\nHost: web.localhost\r\nX-Forwarded-For: 6.6.6.6\r\n\r\n"), "127.0.0.1"
    )
    assert request is not None
    assert (request.method, request.target, request.host) == (b"GET", b"/a?b=1", "web.localhost")
    assert request.head == (
        b"GET /a?b=1 HTTP/1.1\r\nHost: web.localhost\r\nX-Forwarded-For: 127.0.0.1\r\n"
        b"X-Forwarded-Proto: http\r\nX-Forwarded-Host: web.localhost\r\n\r\n"
    )
    assert request.keep_alive and request.body_length == 0 and not request.streamed_body


@pytest.mark.parametrize(
    ("head", "keep_alive"),
    [
        (b"GET / HTTP/1.1\r\n\r\n", True),
        (b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n", False),
        (b"GET / HTTP/1.0\r\n\r\n", False),
        (b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", True),
    ],
)
async def test_keep_alive_follows_the_version_and_connection_header(head: bytes, keep_alive: bool) -> None:
    request = await read_request(stream(head), "127.0.0.1")
    assert request is not None and request.keep_alive is keep_alive


async def test_bodies_are_read_first_up_to_the_limit_and_streamed_beyond() -> None:
    small = await read_request(stream(b"POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello"), "c")
    chunked = await read_request(stream(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"), "c")
    big = await read_request(stream(b"POST / HTTP/1.1\r\nContent-Length: 5000000\r\n\r\n"), "c")
    assert small is not None and not small.streamed_body
    assert chunked is not None and chunked.body_length is None and chunked.streamed_body
    assert big is not None and big.streamed_body


async def test_a_client_closing_between_requests_is_no_request() -> None:
    assert await read_request(stream(b""), "c") is None
    assert await read_request(stream(b"\r\n\r\n"), "c") is None


@pytest.mark.parametrize(
    ("head", "status"),
    [
        (b"GET /\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nno colon\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", 501),
        (b"GET / HTTP/1.1\r\nHost: x", 400),  # the client closed mid-head
    ],
)
async def test_heads_the_router_cannot_forward(head: bytes, status: int) -> None:
    with pytest.raises(BadRequest) as raised:
        await read_request(stream(head), "c")
    assert raised.value.status == status


@pytest.mark.parametrize(
    ("head", "framing"),
    [
        (b"HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\n", (12, False, False)),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 12\r\n\r\n", (None, True, False)),
        (b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n", (None, False, True)),
        (b"HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\n", (1, False, True)),
        (b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 1\r\n\r\n", (1, False, False)),
    ],
)
def test_response_framing(head: bytes, framing: tuple[int | None, bool, bool]) -> None:
    assert response_framing(head) == framing


def test_status_of_refuses_what_is_not_an_http_response() -> None:
    assert status_of(b"HTTP/1.1 204 No Content\r\n\r\n") == 204
    with pytest.raises(ValueError):
        status_of(b"SSH-2.0-OpenSSH\r\n\r\n")


async def test_a_chunked_body_passes_as_written_with_its_trailers() -> None:
    body = b"5;ext=1\r\nhello\r\n0\r\nX-Trailer: 1\r\n\r\n"
    sink = Sink()
    sent = await copy_chunked(stream(body + b"NEXT"), sink)  # type: ignore[arg-type]
    assert sink.data == body and sent == len(body)
