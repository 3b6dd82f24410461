"""The router over real loopback sockets, in front of real HTTP servers (aiohttp).

Each test starts the router and one or more backends on 127.0.0.1 and talks to
the router as a browser would: plain HTTP/1.1, Host header `APP.localhost:PORT`.
"""

from __future__ import annotations

import asyncio
import hashlib
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from devloop.core.spec import AppSpec
from devloop.router import rotation
from devloop.router.router import Router

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Backend:
    """One instance: an aiohttp server on a free loopback port, answering `name`."""

    def __init__(self, name: str, routes: dict[str, Handler] | None = None) -> None:
        self.name = name
        self.hits = 0
        self.app = web.Application(client_max_size=64 * 1024 * 1024)
        self.app.router.add_route("*", "/{tail:.*}", self._dispatch)
        self.routes = routes or {}
        self.runner = web.AppRunner(self.app, access_log=None)
        self.port = 0

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        self.hits += 1
        handler = self.routes.get(request.path)
        if handler is not None:
            return await handler(request)
        return web.Response(text=f"{self.name} {request.path}")

    async def start(self) -> Backend:
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.port = self.runner.addresses[0][1]
        return self

    async def stop(self) -> None:
        await self.runner.cleanup()

    def address(self, instance: str) -> tuple[str, int, str]:
        return ("127.0.0.1", self.port, instance)


def app_spec(name: str, **fields: object) -> AppSpec:
    return AppSpec(name, Path("."), **fields)  # type: ignore[arg-type]


async def route_web_to(router: Router, routes: dict[str, Handler], instance: str = "0") -> Backend:
    """One backend answering `routes`, as app `web`'s only instance."""
    backend = await Backend("web", routes).start()
    await router.ensure(app_spec("web"))
    router.set_backends("web", [backend.address(instance)])
    return backend


@pytest.fixture
async def router() -> AsyncIterator[Router]:
    router = Router(shared_port=free_loopback_port())
    yield router
    await router.close()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def free_loopback_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def via(router: Router, app: str, path: str = "/") -> tuple[str, dict[str, str]]:
    """The URL and Host header a browser uses for http://APP.localhost:PORT/path."""
    return f"http://127.0.0.1:{router.port}{path}", {"Host": f"{app}.localhost:{router.port}"}


async def get(session: aiohttp.ClientSession, router: Router, app: str, path: str = "/") -> tuple[int, str]:
    url, headers = via(router, app, path)
    async with session.get(url, headers=headers) as response:
        return response.status, await response.text()


async def raw_exchange(port: int, request: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request)
    await writer.drain()
    data = await reader.read(65536)
    writer.close()
    return data


async def test_routes_by_host_and_spreads_a_keep_alive_client_over_every_instance(
    router: Router, session: aiohttp.ClientSession
) -> None:
    web0, web1, api = (
        await Backend("web0").start(),
        await Backend("web1").start(),
        await Backend("api").start(),
    )
    await router.ensure(app_spec("web"))
    await router.ensure(app_spec("api"))
    router.set_backends("web", [web0.address("0"), web1.address("1")])
    router.set_backends("api", [api.address("0")])
    assert router.url(app_spec("web")) == f"http://web.localhost:{router.port}"

    answers = [await get(session, router, "web", f"/n{i}") for i in range(6)]  # one pooled connection
    assert {text.split()[0] for _status, text in answers} == {"web0", "web1"}
    assert web0.hits == web1.hits == 3  # round-robin per request, not per connection
    assert await get(session, router, "api") == (200, "api /")
    for backend in (web0, web1, api):
        await backend.stop()


async def test_unknown_host_gets_404_listing_the_routes(
    router: Router, session: aiohttp.ClientSession
) -> None:
    await router.ensure(app_spec("web"))
    status, text = await get(session, router, "nothing")
    assert status == 404
    assert "nothing.localhost" in text and f"http://web.localhost:{router.port}" in text


async def test_cf_routes_keep_their_first_label_and_path(
    router: Router, session: aiohttp.ClientSession
) -> None:
    backend = await Backend("shop").start()
    spec = app_spec("shop", routes=("shop.apps.example.com/store", "www.example.com"))
    await router.ensure(spec)
    router.set_backends("shop", [backend.address("0")])
    assert router.urls(spec) == [
        f"http://shop.localhost:{router.port}/store",
        f"http://www.localhost:{router.port}",
    ]
    assert await get(session, router, "shop", "/store/cart") == (200, "shop /store/cart")
    assert (await get(session, router, "shop", "/elsewhere"))[0] == 404  # only the /store path is routed
    assert await get(session, router, "www", "/any") == (200, "shop /any")
    await backend.stop()


async def test_dedicated_port_answers_for_its_app_whatever_the_host(
    router: Router, session: aiohttp.ClientSession
) -> None:
    backend = await Backend("web").start()
    dedicated = free_loopback_port()
    notice = await router.ensure(app_spec("web", host_port=dedicated))
    router.set_backends("web", [backend.address("0")])
    assert notice == f"web also answers on http://127.0.0.1:{dedicated}"
    async with session.get(f"http://127.0.0.1:{dedicated}/x") as response:
        assert (response.status, await response.text()) == (200, "web /x")
    await backend.stop()


async def test_taken_shared_port_moves_to_the_next_free_one_and_says_so() -> None:
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        taken = blocker.getsockname()[1]
        router = Router(shared_port=taken)
        try:
            notice = await router.ensure(app_spec("web"))
            assert router.port is not None and router.port != taken
            assert notice == f"port {taken} on 127.0.0.1 is in use; the router is on {router.port}"
        finally:
            await router.close()


async def test_no_instance_gets_a_503_page_naming_the_app_and_its_state(
    router: Router, session: aiohttp.ClientSession
) -> None:
    router.state_of = lambda app: f"crashed (instance 0 of {app} exited with code 3)"
    await router.ensure(app_spec("web"))
    url, headers = via(router, "web")
    async with session.get(url, headers=headers) as response:
        text = await response.text()
        assert response.status == 503
        assert response.headers["Retry-After"] == "1"
    assert "web has no healthy instance: crashed (instance 0 of web exited with code 3)." in text


async def test_a_refusing_instance_is_skipped_and_no_request_fails(
    router: Router, session: aiohttp.ClientSession
) -> None:
    live = await Backend("live").start()
    await router.ensure(app_spec("web"))
    router.set_backends("web", [("127.0.0.1", free_loopback_port(), "0"), live.address("1")])
    answers = [await get(session, router, "web") for _ in range(10)]
    assert answers == [(200, "live /")] * 10
    await live.stop()


async def test_a_paused_sole_instance_makes_requests_wait_instead_of_failing(
    router: Router, session: aiohttp.ClientSession
) -> None:
    backend = await Backend("web").start()
    await router.ensure(app_spec("web"))
    router.set_backends("web", [backend.address("0")])
    await router.pause("web", ("127.0.0.1", backend.port), timeout=1)
    waiting = asyncio.create_task(get(session, router, "web", "/during-restart"))
    await asyncio.wait_for(_until(lambda: router.waiting > 0), 5)  # held, not refused
    assert not waiting.done() and backend.hits == 0
    router.resume("web", ("127.0.0.1", backend.port))
    assert await asyncio.wait_for(waiting, 5) == (200, "web /during-restart")
    await backend.stop()


async def test_a_held_app_serves_the_waiting_request_from_the_instance_that_comes_back(
    router: Router, session: aiohttp.ClientSession
) -> None:
    gone = ("127.0.0.1", free_loopback_port(), "0")  # the crashed instance's old address
    await router.ensure(app_spec("web"))
    router.set_backends("web", [gone])
    router.hold("web")  # restarted by the platform: its address is dead, the new one not healthy yet
    assert router.backends("web") == []
    waiting = asyncio.create_task(get(session, router, "web", "/after-restart"))
    await asyncio.wait_for(_until(lambda: router.waiting > 0), 5)  # held, neither refused nor sent
    back = await Backend("web").start()
    router.add_backend("web", *back.address("0"))
    assert await asyncio.wait_for(waiting, 5) == (200, "web /after-restart")
    await back.stop()


async def test_a_hold_nobody_ends_answers_the_503_page_at_the_routers_limit(
    router: Router, session: aiohttp.ClientSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(rotation, "RETRY_FOR_S", 0.3)
    router.state_of = lambda app: "crashed (instance 0 exited with code 3)"
    await router.ensure(app_spec("web"))
    router.hold("web")
    status, text = await get(session, router, "web")
    assert status == 503
    assert "web has no healthy instance: crashed (instance 0 exited with code 3)." in text
    assert router.waiting == 0


async def test_instances_refusing_for_the_whole_hold_give_the_503_page_not_a_hang(
    router: Router, session: aiohttp.ClientSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(rotation, "RETRY_FOR_S", 0.3)
    router.state_of = lambda app: "crashed"
    await router.ensure(app_spec("web"))
    router.set_backends("web", [("127.0.0.1", free_loopback_port(), "0")])
    status, text = await get(session, router, "web")
    assert status == 503
    assert "web has no healthy instance: crashed (connection refused or closed before an answer)." in text


async def _until(check: Callable[[], bool]) -> None:
    while not check():
        await asyncio.sleep(0.01)


async def test_an_instance_taken_out_finishes_its_in_flight_request_first(
    router: Router, session: aiohttp.ClientSession
) -> None:
    release = asyncio.Event()
    arrived = asyncio.Event()

    async def slow(_request: web.Request) -> web.Response:
        arrived.set()
        await release.wait()
        return web.Response(text="slow done")

    old = await Backend("old", {"/slow": slow}).start()
    new = await Backend("new").start()
    await router.ensure(app_spec("web"))
    router.set_backends("web", [old.address("0")])
    in_flight = asyncio.create_task(get(session, router, "web", "/slow"))
    await asyncio.wait_for(arrived.wait(), 5)

    retired = router.set_backends("web", [new.address("0")])
    drained = asyncio.create_task(router.drain(retired, timeout=10))
    async with aiohttp.ClientSession() as other:
        assert await get(other, router, "web", "/after") == (200, "new /after")  # new requests: new only
    assert not drained.done()  # the old instance still has the slow request
    release.set()
    assert await in_flight == (200, "slow done")
    assert await asyncio.wait_for(drained, 5) is True
    await old.stop()
    await new.stop()


async def test_streaming_response_arrives_chunk_by_chunk(
    router: Router, session: aiohttp.ClientSession
) -> None:
    second = asyncio.Event()

    async def stream(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        response.enable_chunked_encoding()
        await response.prepare(request)
        await response.write(b"event: one\n\n")
        await second.wait()  # only once the client has seen the first chunk through the router
        await response.write(b"event: two\n\n")
        await response.write_eof()
        return response

    backend = await route_web_to(router, {"/events": stream})
    url, headers = via(router, "web", "/events")
    async with session.get(url, headers=headers) as response:
        assert await response.content.readuntil(b"\n\n") == b"event: one\n\n"
        second.set()
        assert await response.content.read() == b"event: two\n\n"
    await backend.stop()


@pytest.mark.parametrize("size", [100_000, 5_000_000])  # read first (retryable), or streamed through
async def test_large_bodies_pass_both_ways_intact(
    router: Router, session: aiohttp.ClientSession, size: int
) -> None:
    async def echo(request: web.Request) -> web.Response:
        return web.Response(body=await request.read())

    backend = await route_web_to(router, {"/echo": echo})
    payload = bytes(range(256)) * (size // 256)
    url, headers = via(router, "web", "/echo")
    async with session.post(url, data=payload, headers=headers) as response:
        body = await response.read()
    assert hashlib.sha256(body).digest() == hashlib.sha256(payload).digest()

    async def chunks() -> AsyncIterator[bytes]:  # chunked upload: no Content-Length
        for start in range(0, len(payload), 65536):
            yield payload[start : start + 65536]

    async with session.post(url, data=chunks(), headers=headers) as response:
        assert hashlib.sha256(await response.read()).digest() == hashlib.sha256(payload).digest()
    await backend.stop()


async def test_websocket_upgrade_becomes_a_tunnel(router: Router, session: aiohttp.ClientSession) -> None:
    async def ws(request: web.Request) -> web.WebSocketResponse:
        socket_ = web.WebSocketResponse()
        await socket_.prepare(request)
        async for message in socket_:
            await socket_.send_str(f"echo {message.data}")
        return socket_

    backend = await route_web_to(router, {"/ws": ws})
    url, headers = via(router, "web", "/ws")
    async with session.ws_connect(url, headers=headers) as client:
        for text in ("hello", "x" * 100_000):
            await client.send_str(text)
            assert (await client.receive_str()) == f"echo {text}"
    await backend.stop()


async def test_access_lines_name_method_path_status_and_instance(
    router: Router, session: aiohttp.ClientSession
) -> None:
    lines: list[tuple[str, str]] = []
    router.on_access = lambda app, line: lines.append((app, line))
    backend = await Backend("web").start()
    await router.ensure(app_spec("web"))
    router.set_backends("web", [backend.address("3")])
    await get(session, router, "web", "/hello?x=1")
    app, line = lines[-1]
    assert app == "web"
    assert line.startswith(f'web.localhost:{router.port} "GET /hello?x=1 HTTP/1.1" 200 ')
    assert line.endswith(" instance 3")
    await backend.stop()


async def test_expect_100_continue_is_answered_and_the_body_forwarded(router: Router) -> None:
    async def echo(request: web.Request) -> web.Response:
        return web.Response(body=await request.read())

    backend = await route_web_to(router, {"/echo": echo})
    reader, writer = await asyncio.open_connection("127.0.0.1", router.port)
    writer.write(
        b"POST /echo HTTP/1.1\r\nHost: web.localhost\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n"
    )
    assert await reader.readuntil(b"\r\n\r\n") == b"HTTP/1.1 100 Continue\r\n\r\n"
    writer.write(b"hello")
    head = await reader.readuntil(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    assert await reader.readexactly(5) == b"hello"
    writer.close()
    await backend.stop()


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"NONSENSE\r\n\r\n", b"400"),
        (b"GET / HTTP/1.1\r\nHost: web.localhost\r\nX: " + b"a" * 70_000 + b"\r\n\r\n", b"431"),
        (
            b"POST / HTTP/1.1\r\nHost: web.localhost\r\nContent-Length: 3\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            b"400",
        ),
    ],
    ids=["garbage", "huge-head", "both-framings"],
)
async def test_malformed_requests_get_a_clear_status(
    router: Router, request_bytes: bytes, status: bytes
) -> None:
    await router.ensure(app_spec("web"))
    assert router.port is not None
    answer = await raw_exchange(router.port, request_bytes)
    assert answer.split(b" ")[1] == status


async def test_apps_routed_at_the_same_moment_share_one_listener(router: Router) -> None:
    notices = await asyncio.gather(*(router.ensure(app_spec(name)) for name in ("web", "api", "admin")))
    assert notices == [None, None, None]  # nobody found the shared port taken (by a twin listener)
    assert {router.url(app_spec(n)) for n in ("web", "api", "admin")} == {
        f"http://{n}.localhost:{router.port}" for n in ("web", "api", "admin")
    }


async def test_with_a_project_every_routed_app_gets_its_own_stable_loopback_port() -> None:
    """For clients that cannot resolve *.localhost: the same 127.0.0.1 port for the same project
    and app, also after a restart, and a different one per app."""
    web, api = app_spec("web"), app_spec("api")
    first = Router(0, project_id="shop-1a2b3c4d")
    notice = await first.ensure(web)
    await first.ensure(api)
    address = first.address(web)
    assert address is not None and notice == f"web also answers on {address}"
    assert first.address(api) not in (None, address)
    await first.close()
    again = Router(0, project_id="shop-1a2b3c4d")
    await again.ensure(web)
    try:
        assert again.address(web) == address  # stable across a restart of devloop
    finally:
        await again.close()


async def test_without_a_project_no_app_gets_a_port_it_did_not_ask_for() -> None:
    router = Router(0)
    try:
        assert await router.ensure(app_spec("web")) is None and router.address(app_spec("web")) is None
    finally:
        await router.close()
