"""The pure routing rules: names, cf routes, lookups, and what the 503 page says."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from devloop.core import events as ev
from devloop.core.routes import Route, RouteTable, dedicated_port, host_of, routes_for
from devloop.core.spec import AppSpec
from devloop.core.state import AppState, Phase, why_not_serving


def app(**fields: object) -> AppSpec:
    return AppSpec("web", Path("."), **fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("routes", "expected"),
    [
        ((), (Route("web.localhost"),)),
        (("web.apps.example.com",), (Route("web.localhost"),)),
        (("https://shop.example.com/store/",), (Route("shop.localhost", "/store"),)),
        (("*.example.com", "example.com"), (Route("web.localhost"), Route("example.localhost"))),
        (("a.example.com", "a.other.org"), (Route("a.localhost"),)),  # the same local name once
    ],
)
def test_routes_for_maps_cf_routes_onto_localhost_names(
    routes: tuple[str, ...], expected: tuple[Route, ...]
) -> None:
    assert routes_for(app(routes=routes)) == expected


def test_no_route_apps_get_nothing() -> None:
    assert routes_for(app(no_route=True, routes=("x.example.com",))) == ()
    assert dedicated_port(app(no_route=True, host_port=9000)) is None


def test_dedicated_port_from_host_port_or_a_route_port() -> None:
    assert dedicated_port(app()) is None
    assert dedicated_port(app(host_port=9000)) == 9000
    assert dedicated_port(app(routes=("tcp.example.com:9100",))) == 9100


@pytest.mark.parametrize(
    ("header", "host"),
    [("Web.LocalHost:8080", "web.localhost"), ("web.localhost.", "web.localhost"), ("[::1]:8080", "[::1]")],
)
def test_host_of_drops_port_case_and_trailing_dot(header: str, host: str) -> None:
    assert host_of(header) == host


def test_longest_path_prefix_wins_and_paths_match_whole_segments() -> None:
    table = RouteTable()
    table.set_app("site", (Route("shop.localhost"),))
    table.set_app("api", (Route("shop.localhost", "/api"),))
    assert table.lookup("shop.localhost:8080", "/api/items") == "api"
    assert table.lookup("shop.localhost:8080", "/api?q=1") == "api"
    assert table.lookup("shop.localhost:8080", "/apiary") == "site"
    assert table.lookup("other.localhost", "/") is None
    table.remove_app("site")
    assert table.lookup("shop.localhost", "/") is None


def instance(state: str, code: int | None = None) -> ev.InstanceStatus:
    return ev.InstanceStatus("web", 0, "c0", state, exit_code=code)


@pytest.mark.parametrize(
    ("state", "says"),
    [
        (AppState(app(), building=True), "building"),
        (AppState(app(), deployed_image="i", building=True, phase=Phase.BUILDING), "building a new version"),
        (AppState(app(), deploying=True, phase=Phase.DEPLOYING), "deploying"),
        (
            AppState(app(), deployed_image="i", phase=Phase.CRASHED, instances=(instance("crashed", 3),)),
            "crashed (instance 0 exited with code 3)",
        ),
        (
            AppState(
                app(), phase=Phase.FAILED, last_error="web: http check GET / on port 8080 did not pass\nmore"
            ),
            "failed: web: http check GET / on port 8080 did not pass",
        ),
        (
            AppState(replace(app(), instances=0), deployed_image="i", phase=Phase.RUNNING),
            "scaled to 0 instances",
        ),
        (AppState(app()), "waiting for the platform or a dependency"),
    ],
)
def test_why_not_serving_names_the_state(state: AppState, says: str) -> None:
    assert why_not_serving(state) == says
