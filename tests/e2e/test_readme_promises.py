"""What the README promises about push, logs, events, env, status, ssh and down, tried on the real engine.

Each test drives `devloop` as a user would (subprocesses, a real Docker engine, the app's own
Dockerfile) and names the claim it checks; issue 25 lists what used to be untrue.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from devloop.core.credentials import MASK
from devloop.providers.shared import project_id
from tests.devloop_process import DevloopProcess
from tests.helpers import http_get, wait_until

pytestmark = pytest.mark.docker
URL = r"^web: (http://web\.localhost:\d+)$"
PLANTED = "planted-secret-25e"

APP = """\
import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

VERSION = "v1"
INSTANCE = os.environ.get("CF_INSTANCE_INDEX", "?")
held = []


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        code = 200
        if self.path == "/health" and os.path.exists("/tmp/sick"):
            code = 500  # the test makes an instance fail its health check
        elif self.path == "/hog":
            held.append(b"x" * (512 * 1024 * 1024))  # far over the memory limit: the kernel kills it
        body = f"{VERSION} {INSTANCE}\\n".encode()
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        print(f"instance {INSTANCE}: {self.command} {self.path}", flush=True)


if __name__ == "__main__":
    print(f"instance {INSTANCE}: listening", flush=True)
    ThreadingHTTPServer(("0.0.0.0", int(os.environ["PORT"])), Handler).serve_forever()
"""

DOCKERFILE = """\
FROM python:3.12-slim
WORKDIR /app
COPY app.py /app/
USER 10001
CMD ["python3", "-u", "app.py"]
"""

CONFIG = """\
version: 1
provider: docker
apps:
  - name: web
    path: .
    instances: 2
    memory: 64M
    port: 8080
    health_check: {type: http, endpoint: /health}
    env: {GREETING: hi}
    env_file: .env
"""


def run(folder: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "devloop", *args], cwd=folder, capture_output=True, text=True,
                          timeout=300, env={**os.environ, **(env or {})})  # fmt: skip


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Path]:
    folder = tmp_path / "promises-app"
    folder.mkdir()
    (folder / "app.py").write_text(APP)
    (folder / "Dockerfile").write_text(DOCKERFILE)
    (folder / "devloop.yaml").write_text(CONFIG)
    (folder / ".env").write_text(f"API_TOKEN={PLANTED}\n")
    yield folder
    run(folder, "down", "--purge")


def containers(folder: Path, sandboxes: bool = False, **labels: str) -> dict[str, str]:
    """Index label -> container name of the project's containers (all states), the network
    sandboxes the instances run in (or are parked for the next save) only if asked for."""
    client = docker.from_env()
    try:
        wanted = [
            f"devloop.project={project_id(folder / 'devloop.yaml')}",
            *(f"{k}={v}" for k, v in labels.items()),
        ]
        found = client.containers.list(all=True, filters={"label": wanted})
        return {
            c.labels.get("devloop.index", c.name): c.name
            for c in found
            if sandboxes or "devloop.sandbox" not in c.labels
        }
    finally:
        client.close()


def status_json(folder: Path) -> dict[str, dict]:
    result = run(folder, "status", "--json")
    assert result.returncode == 0, result.stderr
    return {row["name"]: row for row in json.loads(result.stdout)["apps"]}


def address_of(folder: Path, index: int) -> str:
    rows = status_json(folder)["web"]["instance_list"]
    return next(f"http://{i['address']}" for i in rows if i["index"] == index and i["state"] == "running")


def test_push_says_pushed_only_when_it_did_and_exits_with_the_documented_code(app: Path) -> None:
    """README: exit codes 4 build failed, 6 platform error; a failed first deploy has no previous version."""
    (app / "Dockerfile").write_text(DOCKERFILE.replace("USER 10001", "RUN echo broken-on-purpose && exit 3"))
    build = run(app, "push")
    assert build.returncode == 4, build.stdout + build.stderr
    assert "pushed in" not in build.stdout and "error: push failed" in build.stderr
    assert "build failed" in build.stdout

    (app / "Dockerfile").write_text(DOCKERFILE)
    (app / "devloop.yaml").write_text(CONFIG + "    command: echo about to crash; exit 3\n")
    deploy = run(app, "push")
    assert deploy.returncode == 6, deploy.stdout + deploy.stderr
    output = deploy.stdout + deploy.stderr
    assert "pushed in" not in output and "error: push failed" in deploy.stderr
    assert "exited with code 3" in output and "about to crash" in output
    assert "keeps serving" not in output  # there was no previous version
    assert "no previous version runs" in output


@pytest.fixture
def up(app: Path) -> Iterator[DevloopProcess]:
    """`devloop up` on the app, serving both instances; interrupted (exit 130) afterwards."""
    process = DevloopProcess("up", "--no-tui", "--no-router-logs", cwd=app)
    try:
        process.wait_for(URL, timeout=300)
        wait_until(lambda: status_json(app)["web"]["instances"]["running"] == 2, timeout=60, what="2 running")
        yield process
        assert process.interrupt() == 130
    finally:
        process.kill()


def test_logs_tail_0_prints_no_history_then_follows_one_container_by_name(
    app: Path, up: DevloopProcess
) -> None:
    """`devloop logs --tail 0` prints none of the history; `--container` takes a name (its help: "id or
    name prefix")."""
    name = containers(app)["1"]
    logs = DevloopProcess("logs", "--tail", "0", "--container", name, cwd=app)
    try:
        first, second = address_of(app, 0), address_of(app, 1)

        def followed() -> bool:
            http_get(f"{first}/from-test-0")
            http_get(f"{second}/from-test-1")
            return any("instance 1: GET /from-test-1" in line for line in logs.lines)

        wait_until(followed, timeout=60, what="`devloop logs` to follow instance 1")
        assert not any("listening" in line for line in logs.lines), logs.output  # no history
        assert not any("instance 0" in line for line in logs.lines), logs.output  # only that container
        assert logs.interrupt() == 130
    finally:
        logs.kill()


def test_restart_is_no_crash(app: Path, up: DevloopProcess) -> None:
    """`devloop restart` (cf restart) stops instances on purpose: no "crashed (exit code 143)"."""
    mark = len(up.lines)
    assert run(app, "restart", "web").returncode == 0
    up.wait_for(r"^\[API\] web \| restarted 2 instance\(s\)$", start=mark, timeout=120)
    assert not any("crashed" in line for line in up.lines[mark:]), "\n".join(up.lines[mark:])


def test_an_oom_kill_names_its_limit_before_the_restart(app: Path, up: DevloopProcess) -> None:
    """README: "Faults are survived and said in one line: ... OOM kills" (cf: "out of memory")."""
    mark = len(up.lines)
    http_get(f"{address_of(app, 1)}/hog", timeout=10)
    crash = r"^\[API/1\] web \| instance 1 crashed: out of memory \(limit 64M\)$"
    up.wait_for(crash, start=mark, timeout=60)
    at = next(i for i, line in enumerate(up.lines) if i >= mark and re.search(crash, line))
    up.wait_for(r"^\[API/1\] web \| instance 1 restarted \(1 so far\)$", start=at + 1, timeout=60)
    assert not any("restarted" in line for line in up.lines[mark:at])
    assert sum(1 for line in up.lines[mark:] if "crashed" in line) == 1  # said once


def router_url(up: DevloopProcess) -> str:
    return up.wait_for(URL).group(1)


def test_an_instance_failing_its_health_check_leaves_rotation_with_a_line(
    app: Path, up: DevloopProcess
) -> None:
    """README: "a failing instance leaves rotation and comes back when it passes", each in an [API] line."""
    client = docker.from_env()
    try:
        zero = client.containers.get(containers(app)["0"])
        mark = len(up.lines)
        zero.exec_run(["touch", "/tmp/sick"])
        up.wait_for(r"^\[API\] web \| instance 0 failed its health check: out of rotation$", start=mark,
                    timeout=60)  # fmt: skip
        wait_until(lambda: all(http_get(f"{router_url(up)}/") == "v1 1\n" for _ in range(4)), timeout=30,
                   what="only instance 1 to serve")  # fmt: skip
        zero.exec_run(["rm", "-f", "/tmp/sick"])
        up.wait_for(r"^\[API\] web \| instance 0 passes its health check again: back in rotation$",
                    start=mark, timeout=60)  # fmt: skip
    finally:
        client.close()


def test_env_shows_system_and_user_provided_read_from_the_instance(app: Path, up: DevloopProcess) -> None:
    """README: `e` env (secrets masked); `cf env` -> `devloop env`."""
    env = run(app, "env", "web")
    assert env.returncode == 0, env.stderr
    system, user = env.stdout.split("User-Provided:")
    assert system.startswith("System-Provided: (read from instance 0)")
    assert "VCAP_APPLICATION:" in system and '"application_name": "web"' in system
    assert "PORT: 8080" in system and "CF_INSTANCE_INDEX: 0" in system
    assert user.split() == ["GREETING:", "hi", "API_TOKEN:", MASK, "(secret)"]
    assert PLANTED not in env.stdout + env.stderr
    assert f"API_TOKEN: {PLANTED}  (secret)" in run(app, "env", "web", "--show-secrets").stdout


def test_ssh_to_an_instance_the_app_does_not_have_names_those_it_has(app: Path, up: DevloopProcess) -> None:
    ssh = run(app, "ssh", "web", "-i", "7", "-c", "true")
    assert ssh.returncode == 2 and "web has no instance 7; running: 0, 1" in ssh.stderr, ssh.stderr
    assert "devloop up" not in ssh.stderr  # it runs: no advice to start it


def test_status_has_the_readme_columns_and_says_running_while_the_old_version_serves(
    app: Path, up: DevloopProcess
) -> None:
    """The dashboard's columns (README: memory, last error) in `devloop status`; the memory is the limit."""
    table = run(app, "status").stdout.splitlines()
    assert re.match(r"^name\s+state\s+instances\s+memory limit\s+last deploy\s+url\s+last error$", table[0])
    assert re.match(r"^web\s+running\s+2/2\s+64M\s+\d+[smh] ago\s+http://web\.localhost:\d+\s+-$", table[1])

    # A new version that never gets healthy: the old one serves; status says running, with the error.
    mark = len(up.lines)
    (app / "app.py").write_text(APP.replace('VERSION = "v1"', 'VERSION = "v2'))  # a syntax error
    up.wait_for(r"^\[API\] web \| deploy failed: web/0 exited with code 1", start=mark, timeout=180)
    up.wait_for(r"^\[API\] web \| the previous version keeps serving$", start=mark)
    assert http_get(address_of(app, 0)) == "v1 0\n"
    row = status_json(app)["web"]
    assert row["state"] == "running" and row["phase"] == "failed" and row["instances"]["running"] == 2
    line = run(app, "status").stdout.splitlines()[1]
    assert re.match(r"^web\s+running\s+2/2\s+64M\s+.*web/0 exited with code 1", line), line


def test_with_the_engine_unreachable_the_commands_say_so_and_name_docker_host(app: Path) -> None:
    """README exit code 3, Docker unreachable; `service-key` and `env` must not guess."""
    (app / "devloop.yaml").write_text(
        CONFIG.replace("apps:\n", "services: [{name: cache, type: redis}]\napps:\n")
        + "    services: [cache]\n"
    )
    dead = {"DOCKER_HOST": "unix:///nonexistent"}
    for args in (("service-key", "cache"), ("env", "web")):
        result = run(app, *args, env=dead)
        assert result.returncode == 3, (args, result.stdout, result.stderr)
        assert "DOCKER_HOST=unix:///nonexistent" in result.stderr and "not been started" not in result.stderr
        assert "Traceback" not in result.stderr


STAND_IN = "devloop-test/service-stand-in:1"


@pytest.fixture(scope="module")
def service_image() -> str:
    """A container shaped like a redis service (its client answers PONG), built from the local base:
    what is under test is devloop's handling of service containers, not Redis."""
    client = docker.from_env()
    try:
        try:
            client.images.get(STAND_IN)
        except docker.errors.ImageNotFound:
            dockerfile = (
                "FROM devloop-base/debian:bookworm\n"
                "RUN printf '#!/bin/sh\\nexec sleep infinity\\n' > /usr/local/bin/redis-server"
                " && printf '#!/bin/sh\\necho PONG\\n' > /usr/local/bin/redis-cli"
                " && chmod +x /usr/local/bin/redis-server /usr/local/bin/redis-cli\n"
            )
            import io

            client.images.build(fileobj=io.BytesIO(dockerfile.encode()), tag=STAND_IN, rm=True)
    finally:
        client.close()
    return STAND_IN


def with_service(app: Path, image: str, tmp_path: Path) -> dict[str, str]:
    """The app bound to a redis-type service `cache`; the env that keeps its password file apart."""
    (app / "devloop.yaml").write_text(
        CONFIG.replace(
            "apps:\n", f"services: [{{name: cache, type: redis, image: {image}}}]\napps:\n"
        ).replace("instances: 2", "instances: 1")
        + "    services: [cache]\n"
    )
    return {"XDG_STATE_HOME": str(tmp_path / "state")}


def test_a_bound_app_env_shows_vcap_services_and_redis_url_masked(
    app: Path, tmp_path: Path, service_image: str
) -> None:
    """README: bound apps get cf-shaped VCAP_SERVICES and REDIS_URL; `env` shows them, masked."""
    env = with_service(app, service_image, tmp_path)
    up = DevloopProcess("up", "--no-tui", "--no-router-logs", cwd=app, env=env)
    try:
        up.wait_for(URL, timeout=300)
        key = run(app, "service-key", "cache", "--show-secrets", env=env)
        assert key.returncode == 0, key.stderr
        password = json.loads(key.stdout)["password"]
        shown = run(app, "env", "web", env=env)
        assert shown.returncode == 0, shown.stderr
        system = shown.stdout.split("User-Provided:")[0]
        assert f"REDIS_URL: redis://:{MASK}@cache:6379" in system
        assert (
            "VCAP_SERVICES:" in system and f'"password": "{MASK}"' in system and '"name": "cache"' in system
        )
        assert password not in shown.stdout
        assert password in run(app, "env", "web", "--show-secrets", env=env).stdout
        assert up.interrupt() == 130
    finally:
        up.kill()
    run(app, "down", "--purge", env=env)


def test_up_down_on_exit_removes_the_services_too(app: Path, tmp_path: Path, service_image: str) -> None:
    """README: "`devloop down` removes them (or `devloop up --down-on-exit`)": the same things."""
    env = with_service(app, service_image, tmp_path)
    up = DevloopProcess("up", "--no-tui", "--no-router-logs", "--down-on-exit", cwd=app, env=env)
    try:
        up.wait_for(URL, timeout=300)
        assert set(containers(app)) == {"0", "devloop-svc-" + project_id(app / "devloop.yaml") + "-cache"}
        assert up.interrupt() == 130
    finally:
        up.kill()
    assert "removed 1 instance(s) and 1 service(s) (cache)" in up.output
    assert containers(app, sandboxes=True) == {}  # the service container went too, as with `devloop down`


def test_down_purge_says_what_it_removed(app: Path, tmp_path: Path, service_image: str) -> None:
    env = with_service(app, service_image, tmp_path)
    pushed = run(app, "push", env=env)
    assert pushed.returncode == 0, pushed.stdout + pushed.stderr
    down = run(app, "down", "--purge", env=env)
    volume = f"devloop-{project_id(app / 'devloop.yaml')}-cache"
    assert down.returncode == 0 and down.stdout.strip() == (
        f"removed 1 instance(s), 1 service(s) (cache) and 1 volume(s) with their data ({volume})"
    ), down.stdout
    assert containers(app, sandboxes=True) == {}
