"""Which app a request is for, and the router's own pages: pure, no sockets.

Every routed app answers on the router's one shared port under a name in
`.localhost` (browsers and curl resolve those names to the loopback address
without asking DNS), the way Cloud Foundry's router answers for `APP.DOMAIN`.
Routes written in a cf manifest (`myapp.apps.example.com/api`) keep their first
host label and their path: `myapp.localhost:PORT/api`. A route with a port
(`myapp.example.com:9000`) also gives the app that port to itself.
"""

from __future__ import annotations

import html
from dataclasses import dataclass

from devloop.core.spec import AppSpec

LOCAL_DOMAIN = "localhost"


@dataclass(frozen=True)
class Route:
    host: str  # e.g. "web.localhost", lower case, no port
    path: str = ""  # a path prefix without the trailing slash; "" matches every path

    def url(self, port: int) -> str:
        return f"http://{self.host}:{port}{self.path}"

    def matches(self, path: str) -> bool:
        if not self.path:
            return True
        return path == self.path or path.startswith(self.path + "/") or path.startswith(self.path + "?")


def _split_route(route: str) -> tuple[str, int | None, str]:
    """`[http://]host[:port][/path]` -> (host, port, path)."""
    rest = route.split("://", 1)[-1]
    host_port, slash, path = rest.partition("/")
    host, _, port_text = host_port.partition(":")
    port = int(port_text) if port_text.isdigit() and 0 < int(port_text) < 65536 else None
    return host.lower().rstrip("."), port, ("/" + path).rstrip("/") if slash else ""


def routes_for(app: AppSpec) -> tuple[Route, ...]:
    """The local routes of `app`: its own name by default, or one per configured route."""
    if app.no_route:
        return ()
    if not app.routes:
        return (Route(f"{app.name}.{LOCAL_DOMAIN}"),)
    routes: list[Route] = []
    for written in app.routes:
        host, _port, path = _split_route(written)
        label = host.split(".", 1)[0]
        if not label or label == "*" or label == LOCAL_DOMAIN:
            label = app.name  # a wildcard or a bare domain: the app's own name
        route = Route(f"{label}.{LOCAL_DOMAIN}", path)
        if route not in routes:
            routes.append(route)
    return tuple(routes)


def internal_hosts(app: AppSpec) -> tuple[str, ...]:
    """The host names of the app's internal routes (cf `NAME.apps.internal`): other apps of the
    project reach its instances by them on the app's own port, as cf's container networking."""
    return tuple(dict.fromkeys(_split_route(route)[0] for route in app.internal_routes))


def dedicated_port(app: AppSpec) -> int | None:
    """A port the app has to itself: `host_port`, or the first route that names a port."""
    if app.no_route:
        return None
    if app.host_port is not None:
        return app.host_port
    for written in app.routes:
        port = _split_route(written)[1]
        if port is not None:
            return port
    return None


def host_of(header: str) -> str:
    """The host name in a Host header: lower case, without the port or a trailing dot."""
    header = header.strip().lower()
    if header.startswith("["):  # an IPv6 literal
        return header.split("]", 1)[0] + "]"
    return header.rsplit(":", 1)[0].rstrip(".") if ":" in header else header.rstrip(".")


class RouteTable:
    """Host (and path prefix) -> app; the longest matching path prefix wins."""

    def __init__(self) -> None:
        self._by_host: dict[str, list[tuple[Route, str]]] = {}

    def set_app(self, app: str, routes: tuple[Route, ...]) -> None:
        self.remove_app(app)
        for route in routes:
            entries = self._by_host.setdefault(route.host, [])
            entries.append((route, app))
            entries.sort(key=lambda entry: len(entry[0].path), reverse=True)

    def remove_app(self, app: str) -> None:
        for host in list(self._by_host):
            kept = [entry for entry in self._by_host[host] if entry[1] != app]
            if kept:
                self._by_host[host] = kept
            else:
                del self._by_host[host]

    def lookup(self, host_header: str, path: str) -> str | None:
        for route, app in self._by_host.get(host_of(host_header), ()):
            if route.matches(path):
                return app
        return None

    def routes(self) -> list[tuple[Route, str]]:
        return [entry for entries in self._by_host.values() for entry in entries]


# --- the router's own answers -----------------------------------------------------------------------


def page(status: int, reason: str, title: str, lines: list[str], extra_headers: str = "") -> bytes:
    """A complete HTTP/1.1 response with a short HTML page; the connection stays usable."""
    items = "".join(f"<p>{html.escape(line)}</p>\n" for line in lines)
    body = (
        f"<!doctype html>\n<html><head><meta charset=utf-8><title>{html.escape(title)}</title></head>\n"
        f"<body><h1>{html.escape(title)}</h1>\n{items}<p><small>devloop router</small></p></body></html>\n"
    ).encode()
    head = (
        f"HTTP/1.1 {status} {reason}\r\nContent-Type: text/html; charset=utf-8\r\n"
        f"Content-Length: {len(body)}\r\nCache-Control: no-store\r\n{extra_headers}\r\n"
    ).encode()
    return head + body


def unavailable_page(app: str, state: str) -> bytes:
    """503: the app has no instance in rotation; say what it is doing instead."""
    return page(
        503,
        "Service Unavailable",
        f"{app} is not serving",
        [f"{app} has no healthy instance: {state}.", "This page retries on reload; `devloop up` shows why."],
        "Retry-After: 1\r\n",
    )


def bad_gateway_page(app: str, reason: str) -> bytes:
    lines = [f"{app} did not answer: {reason}."]
    return page(502, "Bad Gateway", f"{app} did not answer", lines, "Connection: close\r\n")


def unknown_route_page(host: str, known: list[str]) -> bytes:
    lines = [f"No app here answers to {host or '(no Host header)'}."]
    lines += [f"Routes: {', '.join(known)}"] if known else ["No app has a route yet."]
    return page(404, "Not Found", "404 route not found", lines)


def access_line(
    host: str, request_line: str, status: int, sent: int, duration_s: float, instance: str
) -> str:
    """One `[RTR]` access line, in the spirit of Cloud Foundry's router log."""
    return f'{host} "{request_line}" {status} {sent} bytes {duration_s * 1000:.1f} ms instance {instance}'
