"""`devloop up` in a real terminal (tmux): the dashboard shows, its events view opens, q quits, the terminal is restored."""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.test_up_docker import everything_of
from tests.helpers import copy_sample, wait_until

pytestmark = [
    pytest.mark.docker,
    pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed (apt-get install tmux)"),
]


class Terminal:
    def __init__(self) -> None:
        self.socket = f"devloop-test-{uuid.uuid4().hex[:8]}"  # its own server: it gets our environment

    def tmux(self, *args: str) -> str:
        result = subprocess.run(
            ["tmux", "-L", self.socket, *args], capture_output=True, text=True, timeout=10
        )
        return result.stdout

    def start(self) -> None:
        self.tmux("new-session", "-d", "-s", "t", "-x", "120", "-y", "36", "bash --norc --noprofile")

    def type(self, text: str, enter: bool = True) -> None:
        self.tmux("send-keys", "-t", "t", "-l", text)
        if enter:
            self.tmux("send-keys", "-t", "t", "Enter")

    def key(self, key: str) -> None:
        self.tmux("send-keys", "-t", "t", key)

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p", "-t", "t")

    def showing(self, *needles: str) -> str | None:
        """The screen, if it shows every needle."""
        screen = self.screen()
        return screen if all(n in screen for n in needles) else None

    def alternate_screen(self) -> bool:
        return self.tmux("display-message", "-p", "-t", "t", "#{alternate_on}").strip() == "1"

    def stop(self) -> None:
        self.tmux("kill-server")


@pytest.fixture
def terminal() -> Iterator[Terminal]:
    term = Terminal()
    term.start()
    yield term
    term.stop()


def test_dashboard_in_a_real_terminal(tmp_path: Path, terminal: Terminal) -> None:
    folder = copy_sample("python-web", tmp_path)
    command = f"cd {shlex.quote(str(folder))} && {shlex.quote(sys.executable)} -m devloop up --down-on-exit"
    terminal.type(f"{command}; echo DEVLOOP_EXITED=$?")
    screen = wait_until(
        lambda: terminal.showing("● running", "http://web.localhost:"),
        timeout=90,
        what="the app running on screen",
    )
    assert "2/2" in screen and "web" in screen
    assert terminal.alternate_screen()
    wait_until(
        lambda: "[APP/1] web" in terminal.screen(), timeout=30, what="instance 1's output in the log pane"
    )
    # The real recorder feeds the dashboard: the latest event in the row, the timeline on `v`.
    wait_until(lambda: terminal.showing("Last event", " pushed devloop/"), timeout=10, what="the last event")
    terminal.key("v")
    wait_until(lambda: terminal.showing("events of all apps", "  web  pushed devloop/web:"), timeout=10,
               what="the events view")  # fmt: skip
    terminal.key("Escape")
    wait_until(lambda: "events of all apps" not in terminal.screen(), timeout=10, what="the view closed")
    terminal.key("q")
    wait_until(lambda: "Remove the apps too?" in terminal.screen(), timeout=10, what="the quit question")
    terminal.key("y")
    after = wait_until(lambda: terminal.showing("\nDEVLOOP_EXITED="), timeout=60, what="devloop to exit")
    assert "DEVLOOP_EXITED=0" in after and "removed 2 instance(s)" in after
    assert not terminal.alternate_screen()  # the terminal is back to the shell's screen
    terminal.type("echo typed-after-exit")
    wait_until(lambda: "\ntyped-after-exit" in terminal.screen(), timeout=10, what="the shell to echo input")
    assert everything_of(folder) == []
