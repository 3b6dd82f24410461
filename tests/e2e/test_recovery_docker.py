"""README claims about recovery, tried as a user would on the docker provider with a real engine.

"On every save it ... copies [synced files] into the running containers": a save that crashes
every instance must not leave the app down for good; the next good save brings it back, and
`devloop restart` restarts instances that are down.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import docker
import pytest

from devloop.providers.shared import project_id
from tests.e2e.scenario import edit_greeting, serves, up_serving
from tests.helpers import http_get, http_request, wait_until

pytestmark = pytest.mark.docker


def crashed_page(url: str) -> bool:
    try:
        status, body = http_request(url, timeout=15)  # the router may hold a request up to 5 s
    except OSError:
        return False
    return status == 503 and b"crashed" in body


def break_app(folder: Path) -> str:
    """Save a syntax error into app.py; returns the good text."""
    app = folder / "app.py"
    good = app.read_text()
    app.write_text(good.replace("class Handler(", "class Handler((", 1))
    return good


def test_a_synced_crash_recovers_on_the_next_good_save(python_web: Path) -> None:
    with up_serving(python_web) as (devloop, url):
        good = break_app(python_web)
        wait_until(lambda: crashed_page(url), timeout=90, what="every instance crashed: the 503 page")
        mark = len(devloop.lines)
        (python_web / "app.py").write_text(good)
        edit_greeting(python_web, "healed")
        devloop.wait_for(r"^\[API\] web \| synced into 2 instance\(s\)$", start=mark)
        both = {"healed (instance 0)", "healed (instance 1)"}
        answers: set[str] = set()

        def both_serve() -> bool:  # each instance back in rotation once its health check passes
            answers.update(body.strip() for body in [http_get(url) or ""] if body)
            return answers >= both

        wait_until(both_serve, timeout=90, what="both instances to serve the fixed app")
        assert answers == both


def test_restart_restarts_instances_that_are_down(python_web: Path) -> None:
    with up_serving(python_web) as (devloop, url):
        client = docker.from_env()
        label = f"devloop.project={project_id(python_web / 'devloop.yaml')}"
        try:
            for container in client.containers.list(filters={"label": label}):
                container.stop(timeout=1)  # down, and Docker's restart policy leaves it down
        finally:
            client.close()
        wait_until(lambda: not serves(url, "hello from python-web"), timeout=60, what="the app down")
        restart = subprocess.run([sys.executable, "-m", "devloop", "restart", "web"], cwd=python_web,
                                 capture_output=True, text=True, timeout=120)  # fmt: skip
        assert restart.returncode == 0, restart.stderr
        devloop.wait_for(r"^\[API\] web \| restarted 2 instance\(s\)$")
        wait_until(lambda: serves(url, "hello from python-web"), timeout=60, what="serving again")
