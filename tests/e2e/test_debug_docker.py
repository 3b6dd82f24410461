"""`devloop up --debug` on the docker provider, with a real debugger: debugpy in a debug layer on top of
the app's image, attached through the stable forwarded port by a Debug Adapter Protocol client
(tests/dap.py) as an IDE would; a breakpoint in the handler is hit by a request to the app's URL."""

from __future__ import annotations

import concurrent.futures
import json
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from devloop.providers.shared import project_id
from tests.dap import DapClient
from tests.devloop_process import DevloopProcess
from tests.helpers import http_get, http_request, wait_until

pytestmark = pytest.mark.docker

APP = '''\
import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        greeting = "hello from " + self.path
        body = greeting.encode()  # line 8: the breakpoint
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


ThreadingHTTPServer(("0.0.0.0", int(os.environ["PORT"])), Handler).serve_forever()
'''
CONFIG = """\
version: 1
provider: docker
apps:
  - {name: web, path: ., language: python, memory: 128M}
"""
BREAKPOINT_LINE = 8


@pytest.fixture
def project(tmp_path: Path) -> Iterator[Path]:
    (tmp_path / "app.py").write_text(APP)
    (tmp_path / "devloop.yaml").write_text(CONFIG)
    yield tmp_path
    subprocess.run([sys.executable, "-m", "devloop", "down"], cwd=tmp_path, capture_output=True, timeout=60)


def image_has_debugpy(image: str) -> bool:
    found = subprocess.run(["docker", "run", "--rm", "--entrypoint", "sh", image, "-c",
                            "ls /opt/devloop/debugpy"], capture_output=True)  # fmt: skip
    return found.returncode == 0


def test_a_breakpoint_set_through_the_forwarded_port_is_hit_by_a_request(project: Path) -> None:
    devloop = DevloopProcess("up", "--no-tui", "--no-watch", "--debug", cwd=project)
    try:
        app_image = devloop.wait_for(r"adding debugpy \S+ to (\S+) ").group(1)
        port = int(devloop.wait_for(r"web/0 debug: 127\.0\.0\.1:(\d+) \(debugpy\)").group(1))
        url = devloop.wait_for(r"^web: (http://\S+)").group(1)
        client = DapClient("127.0.0.1", port)
        try:
            client.attach({"/app/app.py": [BREAKPOINT_LINE]}, justMyCode=True)
            with concurrent.futures.ThreadPoolExecutor(1) as pool:
                answer = pool.submit(http_request, url.rstrip("/") + "/debugged", timeout=30)
                stopped = client.event("stopped", timeout=20)
                assert stopped["body"]["reason"] == "breakpoint"
                assert client.local_variables(stopped["body"]["threadId"])["greeting"] == "'hello from /debugged'"
                assert not answer.done()  # held at the breakpoint
                client.request("continue", threadId=stopped["body"]["threadId"])
                assert answer.result(timeout=20) == (200, b"hello from /debugged")
        finally:
            client.close()
        status = subprocess.run([sys.executable, "-m", "devloop", "status", "--json"], cwd=project,
                                capture_output=True, text=True, timeout=30)  # fmt: skip
        rows = json.loads(status.stdout)["apps"]
        web = next(r for r in rows if r["name"] == "web")
        assert [(i["debug"], i["debug_address"]) for i in web["instance_list"]] == [
            ("debugpy", f"127.0.0.1:{port}")
        ]
        assert devloop.interrupt() == 130
    finally:
        devloop.kill()
    # debugpy went into a layer of devloop's own; the app's image has none of it.
    client_ = docker.from_env()
    try:
        label = f"devloop.project={project_id(project / 'devloop.yaml')}"
        running = client_.containers.list(filters={"label": label})
        debug_image = next(c for c in running if "devloop.sandbox" not in c.labels).labels["devloop.image"]
    finally:
        client_.close()
    assert debug_image.startswith("devloop-debug/web:")
    assert image_has_debugpy(debug_image) and not image_has_debugpy(app_image)


NODE_SERVER = """\
require("http").createServer((req, res) => res.end("hi")).listen(process.env.PORT);
"""
# Node's inspector through NODE_OPTIONS (`up --debug api`); a JVM under `debug: wait`, held by JDWP
# (JAVA_TOOL_OPTIONS, suspend=y) before `main`, which needs no class to exist.
RUNTIMES_CONFIG = """\
version: 1
provider: docker
apps:
  - {name: api, path: ., memory: 128M, health_check: {type: port}}
  - {name: jvm, image: "eclipse-temurin:17-jre", command: java -cp /nowhere Main, no_route: true, debug: wait}
"""


def jdwp_handshake(port: int) -> bytes | None:
    """The JVM's answer to a debugger's handshake; None while nothing answers yet."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            sock.sendall(b"JDWP-Handshake")
            answer = b""
            while len(answer) < 14 and (chunk := sock.recv(14 - len(answer))):
                answer += chunk
    except OSError:
        return None
    return answer or None


def test_nodes_inspector_and_javas_jdwp_answer_on_their_forwarded_ports(tmp_path: Path) -> None:
    (tmp_path / "server.js").write_text(NODE_SERVER)
    (tmp_path / "Dockerfile").write_text('FROM node:22-slim\nCOPY server.js /srv/\nCMD ["node", "/srv/server.js"]\n')
    (tmp_path / "devloop.yaml").write_text(RUNTIMES_CONFIG)
    devloop = DevloopProcess("up", "--no-tui", "--no-watch", "--debug", "api", cwd=tmp_path)
    try:
        node = int(devloop.wait_for(r"api/0 debug: 127\.0\.0\.1:(\d+) \(inspector\)").group(1))
        # The inspector may still be starting when the app serves: ask until it answers, as an IDE does.
        body = wait_until(lambda: http_get(f"http://127.0.0.1:{node}/json/version"), timeout=10, what="inspector")
        assert json.loads(body)["Browser"].startswith("node.js/v")
        jvm = int(devloop.wait_for(r"jvm/0 debug: 127\.0\.0\.1:(\d+) \(jdwp\)").group(1))
        assert wait_until(lambda: jdwp_handshake(jvm), timeout=10, what="JDWP") == b"JDWP-Handshake"
        assert devloop.interrupt() == 130
    finally:
        devloop.kill()
        subprocess.run([sys.executable, "-m", "devloop", "down"], cwd=tmp_path, capture_output=True, timeout=60)
