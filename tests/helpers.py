"""Waiting on conditions in tests: poll with a deadline, never a fixed sleep."""

from __future__ import annotations

import asyncio
import http.client
import os
import time
import urllib.parse
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")


def wait_until(
    check: Callable[[], T | None], timeout: float = 20.0, interval: float = 0.05, what: str = ""
) -> T:
    """Call `check` until it returns something truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what or check}; last value {last!r}")


async def async_wait_until(check: Callable[[], T | None], timeout: float = 20.0, what: str = "") -> T:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what or check}")


async def async_poll(check: Callable[[], Awaitable[bool]], timeout: float = 20.0, what: str = "") -> None:
    """Await `check` until it is true (for checks that talk to servers on this very loop)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what or check}")


def loopback_address(url: str) -> tuple[str, int, str, str]:
    """(connect host, port, Host header, path) for `url`; names under .localhost are 127.0.0.1.

    Browsers and curl resolve `APP.localhost` to the loopback address by themselves;
    Python asks the resolver, which could send a DNS query off the machine. Tests never do.
    """
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    connect = "127.0.0.1" if host == "localhost" or host.endswith(".localhost") else host
    path = parts.path or "/"
    return connect, parts.port or 80, parts.netloc, path + (f"?{parts.query}" if parts.query else "")


def http_request(
    url: str, method: str = "GET", body: bytes | None = None, timeout: float = 2.0
) -> tuple[int, bytes]:
    """(status, body) of one request; raises OSError when nothing answers."""
    connect, port, host, path = loopback_address(url)
    connection = http.client.HTTPConnection(connect, port, timeout=timeout)
    try:
        connection.request(method, path, body=body, headers={"Host": host})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def http_get(url: str, timeout: float = 2.0) -> str | None:
    """The body of a 2xx/3xx answer, or None (an error status, or nothing answering)."""
    try:
        status, body = http_request(url, timeout=timeout)
    except (http.client.HTTPException, OSError):
        return None
    return body.decode() if status < 400 else None


def processes_matching(fragment: str) -> list[int]:
    """PIDs whose command line contains `fragment` (Linux /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if fragment in cmdline:
            found.append(int(entry.name))
    return found


SAMPLES = Path(__file__).resolve().parents[1] / "samples"


def copy_sample(name: str, into: Path) -> Path:
    """A private copy of samples/NAME under a unique folder name (its own devloop project id)."""
    import shutil
    import uuid

    folder = into / f"{name}-{uuid.uuid4().hex[:6]}"
    shutil.copytree(SAMPLES / name, folder)
    return folder


def without_sync_rules(folder: Path) -> None:
    """Drop the python-web sample's sync rules, so every edit takes the rebuild path."""
    config = folder / "devloop.yaml"
    config.write_text(config.read_text().split("    # Python files")[0])
