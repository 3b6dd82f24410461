"""HTTP/1.1 as the router forwards it: request and response framing, bodies, and tunnels after a 101.

Messages pass as bytes with only the framing parsed (Content-Length, chunked,
read-until-close), so streaming responses flow as they are written and an
`Upgrade` (WebSocket) becomes a plain two-way tunnel after the 101. The router
adds X-Forwarded-* and answers `Expect: 100-continue` itself; nothing else of a
message is rewritten. Not h11: a full state machine re-parses and re-frames every
message on both sides, which measured slower through the router and changed what
is forwarded (the commit that kept this code has the numbers).
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass

HEAD_LIMIT = 64 * 1024  # request or response head; larger gets 431 / 502
RETRY_BODY_LIMIT = 1024 * 1024  # bodies up to this are read first, so a refused request can go elsewhere
IDEMPOTENT = frozenset({b"GET", b"HEAD", b"OPTIONS", b"PUT", b"DELETE", b"TRACE"})
NO_BODY_STATUS = frozenset({204, 304})


class BadRequest(Exception):
    """A request the router cannot forward: answered with `status` and the connection closed."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


class Unanswered(Exception):
    """The instance closed before answering a request that is safe to send elsewhere."""


class FailedMidAnswer(ConnectionError):
    """The instance failed after its answer began: nothing sensible can follow on the client's connection."""


@dataclass
class Request:
    method: bytes
    target: bytes
    version: bytes
    head: bytes  # as forwarded upstream
    host: str
    body_length: int | None  # None: chunked
    keep_alive: bool
    upgrade: bool
    expect_continue: bool

    @property
    def streamed_body(self) -> bool:
        """The body is passed on as it comes, not read first (chunked, or too large to hold)."""
        return self.body_length is None or self.body_length > RETRY_BODY_LIMIT

    @property
    def line(self) -> str:
        return b" ".join((self.method, self.target, self.version)).decode("latin-1")


async def relay(
    request: Request,
    body: bytes,
    client_r: asyncio.StreamReader,
    client_w: asyncio.StreamWriter,
    up_r: asyncio.StreamReader,
    up_w: asyncio.StreamWriter,
) -> tuple[int, int, bool]:
    """Send `request` (`body` read already, or the rest streamed from the client) upstream and its
    answer back: (status, bytes sent to the client, the instance closes the connection).

    Raises Unanswered when the instance closed without a byte of answer and the request may be
    retried, FailedMidAnswer once the answer began; other errors mean no answer came (a 502).
    """
    retryable = not request.streamed_body and request.method in IDEMPOTENT
    up_w.write(request.head + body if body else request.head)
    if request.streamed_body:
        await copy_body(client_r, up_w, request.body_length)
    await up_w.drain()
    try:
        head = await up_r.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, ConnectionError) as exc:
        partial = isinstance(exc, asyncio.IncompleteReadError) and exc.partial
        if retryable and not partial:
            raise Unanswered from None  # a stale kept-alive connection, a restart
        raise
    status = status_of(head)
    try:
        while True:
            if status == 101 and request.upgrade:
                client_w.write(head)
                await client_w.drain()
                await tunnel(client_r, client_w, up_r, up_w)
                return 101, len(head), True
            if 100 <= status < 200:  # 100 Continue, 103 Early Hints: pass on, then the real one
                client_w.write(head)
                head = await up_r.readuntil(b"\r\n\r\n")
                status = status_of(head)
                continue
            break
        length, chunked, upstream_close = response_framing(head)
        client_w.write(head)
        sent = len(head)
        if request.method == b"HEAD" or status in NO_BODY_STATUS:
            pass
        elif chunked:
            sent += await copy_chunked(up_r, client_w)
        elif length is not None:
            sent += await copy_exact(up_r, client_w, length)
        else:
            sent += await copy_until_close(up_r, client_w)
            upstream_close = True
        await client_w.drain()
        return status, sent, upstream_close
    except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError, ValueError):
        raise FailedMidAnswer("instance failed mid-answer") from None


async def read_request(reader: asyncio.StreamReader, client: str) -> Request | None:
    """The next request's head, or None when the client closed between requests."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        if exc.partial.strip():
            raise BadRequest(400, "Bad Request") from None
        return None
    except asyncio.LimitOverrunError:
        raise BadRequest(431, "Request Header Fields Too Large") from None
    lines = head[:-4].split(b"\r\n")
    while lines and not lines[0]:
        lines.pop(0)  # stray CRLF between requests (RFC 9112 2.2)
    if not lines:
        return None
    parts = lines[0].split(b" ")
    if len(parts) != 3 or not parts[2].startswith(b"HTTP/1."):
        raise BadRequest(400, "Bad Request")
    method, target, version = parts
    host = ""
    length: int | None = 0
    chunked = False
    connection = b""
    upgrade = False
    expect_continue = False
    has_length = False
    kept: list[bytes] = [lines[0]]
    for line in lines[1:]:
        name, sep, value = line.partition(b":")
        if not sep:
            raise BadRequest(400, "Bad Request")
        lname = name.strip().lower()
        value = value.strip()
        if lname == b"host":
            host = value.decode("latin-1")
        elif lname == b"content-length":
            if has_length or not value.isdigit():
                raise BadRequest(400, "Bad Request")
            has_length, length = True, int(value)
        elif lname == b"transfer-encoding":
            chunked = value.lower().endswith(b"chunked")
            if not chunked:
                raise BadRequest(501, "Not Implemented")
        elif lname == b"connection":
            connection = value.lower()
        elif lname == b"upgrade":
            upgrade = True
        elif lname == b"expect" and value.lower() == b"100-continue":
            expect_continue = True
            continue  # the router answers it itself, then reads the body
        elif lname.startswith(b"x-forwarded-"):
            continue  # the router sets these; a client cannot
        kept.append(line)
    if chunked and has_length:
        raise BadRequest(400, "Bad Request")  # both framings: a smuggling attempt (RFC 9112 6.1)
    http11 = version == b"HTTP/1.1"
    keep_alive = b"close" not in connection if http11 else b"keep-alive" in connection
    kept.append(b"X-Forwarded-For: " + client.encode())
    kept.append(b"X-Forwarded-Proto: http")
    if host:
        kept.append(b"X-Forwarded-Host: " + host.encode("latin-1"))
    return Request(
        method=method,
        target=target,
        version=version,
        head=b"\r\n".join(kept) + b"\r\n\r\n",
        host=host,
        body_length=None if chunked else length,
        keep_alive=keep_alive,
        upgrade=upgrade and b"upgrade" in connection,
        expect_continue=expect_continue,
    )


def status_of(head: bytes) -> int:
    parts = head.split(b" ", 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or not parts[1].isdigit():
        raise ValueError("not an HTTP/1.x response")
    return int(parts[1])


def response_framing(head: bytes) -> tuple[int | None, bool, bool]:
    """(content length, chunked, connection: close) of a response head."""
    length: int | None = None
    chunked = False
    close = head.startswith(b"HTTP/1.0")
    for line in head[:-4].split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        lname = name.strip().lower()
        if lname == b"content-length":
            length = int(value.strip())
        elif lname == b"transfer-encoding":
            chunked = value.strip().lower().endswith(b"chunked")
        elif lname == b"connection":
            token = value.strip().lower()
            close = b"close" in token or (close and b"keep-alive" not in token)
    return (None if chunked else length), chunked, close


async def copy_exact(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, length: int) -> int:
    remaining = length
    while remaining:
        data = await reader.read(min(remaining, 256 * 1024))
        if not data:
            raise asyncio.IncompleteReadError(b"", remaining)
        writer.write(data)
        remaining -= len(data)
        await writer.drain()
    return length


async def copy_chunked(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> int:
    """Pass a chunked body on as it comes, chunk by chunk (server-sent events stay live)."""
    sent = 0
    while True:
        size_line = await reader.readuntil(b"\r\n")
        size = int(size_line.split(b";", 1)[0].strip(), 16)
        writer.write(size_line)
        sent += len(size_line)
        if size == 0:
            while True:  # trailers, up to the empty line
                trailer = await reader.readuntil(b"\r\n")
                writer.write(trailer)
                sent += len(trailer)
                if trailer == b"\r\n":
                    await writer.drain()
                    return sent
        sent += await copy_exact(reader, writer, size + 2)


async def copy_until_close(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> int:
    sent = 0
    while data := await reader.read(256 * 1024):
        writer.write(data)
        sent += len(data)
        await writer.drain()
    return sent


async def copy_body(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, length: int | None) -> None:
    if length is None:
        await copy_chunked(reader, writer)
    else:
        await copy_exact(reader, writer, length)


async def discard_body(reader: asyncio.StreamReader, request: Request) -> None:
    """Read past a body the router answers itself, so the next request parses."""
    sink = _NullWriter()
    await copy_body(reader, sink, request.body_length)  # type: ignore[arg-type]


class _NullWriter:
    def write(self, _data: bytes) -> None:
        pass

    async def drain(self) -> None:
        pass


async def tunnel(
    client_r: asyncio.StreamReader,
    client_w: asyncio.StreamWriter,
    up_r: asyncio.StreamReader,
    up_w: asyncio.StreamWriter,
) -> None:
    """After a 101: bytes both ways until either side closes (WebSocket frames pass untouched)."""

    async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, OSError):
            while data := await src.read(256 * 1024):
                dst.write(data)
                await dst.drain()
        with contextlib.suppress(OSError):
            if dst.can_write_eof():
                dst.write_eof()

    both = [asyncio.create_task(pump(client_r, up_w)), asyncio.create_task(pump(up_r, client_w))]
    try:
        await asyncio.wait(both, return_when=asyncio.FIRST_COMPLETED)
        # One side closed: give the other a moment to finish its close handshake, then end both.
        await asyncio.wait(both, timeout=1.0)
    finally:
        for task in both:
            task.cancel()
        await asyncio.gather(*both, return_exceptions=True)


def error_response(status: int, reason: str) -> bytes:
    body = f"{status} {reason}\n".encode()
    return (
        f"HTTP/1.1 {status} {reason}\r\nContent-Type: text/plain\r\nContent-Length: {len(body)}\r\n"
        "Connection: close\r\n\r\n"
    ).encode() + body
