"""Each routed app's numeric loopback port: stable per project and app, moved past taken ones."""

from __future__ import annotations

import pytest

from devloop.core.addresses import FIRST, SPAN, preferred_port, stable_port


def test_the_same_project_and_app_always_get_the_same_port() -> None:
    assert preferred_port("shop-1a2b3c4d", "web") == preferred_port("shop-1a2b3c4d", "web")
    assert FIRST <= preferred_port("shop-1a2b3c4d", "web") < FIRST + SPAN


def test_apps_and_projects_spread_over_the_range() -> None:
    ports = {preferred_port(f"project-{p}", app) for p in range(20) for app in ("web", "api", "worker")}
    assert len(ports) >= 55  # 60 pairs: a collision or two at most, which stable_port steps past


def test_a_taken_port_moves_to_the_next_free_one() -> None:
    start = preferred_port("p", "web")
    taken = {start, start + 1}
    assert stable_port("p", "web", lambda port: port not in taken) == start + 2


def test_ports_given_to_other_apps_are_avoided() -> None:
    start = preferred_port("p", "web")
    assert stable_port("p", "web", lambda _port: True, avoid=[start]) == start + 1


def test_the_search_wraps_inside_the_range() -> None:
    last = FIRST + SPAN - 1
    project = next(f"p{n}" for n in range(100_000) if preferred_port(f"p{n}", "web") == last)
    assert stable_port(project, "web", lambda port: port != last) == FIRST


def test_all_taken_is_a_lookup_error_naming_the_port() -> None:
    with pytest.raises(LookupError, match=str(preferred_port("p", "web"))):
        stable_port("p", "web", lambda _port: False)
