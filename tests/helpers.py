"""Waiting on conditions in tests: poll with a deadline, never a fixed sleep."""

from __future__ import annotations

import asyncio
import os
import time
import urllib.error
import urllib.request
from collections.abc import Callable
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


def http_get(url: str, timeout: float = 2.0) -> str | None:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.read().decode()
    except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
        return None


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
