"""The end-to-end scenario every provider must pass: up, serve, edit, serve the edit, logs of every instance, SIGINT."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from tests.devloop_process import DevloopProcess
from tests.helpers import http_get, processes_matching, wait_until, without_sync_rules


def edit_greeting(folder: Path, greeting: str) -> None:
    app = folder / "app.py"
    text = app.read_text()
    start = text.index('GREETING = "') + len('GREETING = "')
    app.write_text(text[:start] + greeting + text[text.index('"', start) :])


def serves(url: str, text: str) -> bool:
    return text in (http_get(url) or "")


def up_edit_interrupt(
    sample: Path, path: str, *args: str, env: dict[str, str] | None = None
) -> DevloopProcess:
    """Run the scenario on samples/python-web (sync or rebuild path); returns the finished process."""
    if path == "rebuild":  # no sync rules: every save rebuilds and replaces the instances
        without_sync_rules(sample)
    devloop = DevloopProcess("up", "--no-tui", *args, cwd=sample, env=env)
    try:
        url = devloop.wait_for(r"^web: (http://web\.localhost:\d+)$", timeout=300).group(1)
        assert serves(url, "hello from python-web")
        mark = len(devloop.lines)
        edit_greeting(sample, f"edited-{path}")
        wait_until(lambda: serves(url, f"edited-{path}"), timeout=120, what="the edited response")
        if path == "sync":
            devloop.wait_for(r"^\[API\] web \| syncing 1 file\(s\): app\.py$", start=mark)
            devloop.wait_for(r"^\[API\] web \| synced into 2 instance\(s\)$", start=mark)
        else:
            devloop.wait_for(r"^\[API\] web \| running \S*devloop/web:", start=mark)
        # Requests are spread over both instances, and both instances' lines reach the stream.
        for _ in range(8):
            assert serves(url, f"edited-{path}")
        devloop.wait_for(r"^\[APP/0\] web \| instance \S+: GET / 200")
        devloop.wait_for(r"^\[APP/1\] web \| instance \S+: GET / 200")
        assert devloop.interrupt() == 130
        # The router went with devloop: nothing answers with this app's text. (Another test's
        # devloop may take the freed port at once and answer for its own app `web`.)
        assert f"edited-{path}" not in (http_get(url, timeout=1) or "")
    finally:
        devloop.kill()
    assert devloop.proc.poll() is not None
    assert processes_matching(str(sample)) == []  # no build or helper process outlived devloop
    return devloop


@contextlib.contextmanager
def up_serving(folder: Path) -> Iterator[tuple[DevloopProcess, str]]:
    """`devloop up --no-tui` in `folder` until its web URL is printed; Ctrl-C must end it with 130."""
    devloop = DevloopProcess("up", "--no-tui", cwd=folder)
    try:
        url = devloop.wait_for(r"^web: (http://web\.localhost:\d+)$", timeout=300).group(1)
        yield devloop, url
        assert devloop.interrupt() == 130
    finally:
        devloop.kill()
