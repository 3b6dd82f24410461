"""Apps that read their environment as Cloud Foundry's samples do serve under `devloop up --provider docker`.

tests/data/cf-env-apps reproduces what the samples rely on (cf-sample-app-nodejs answers
500 when VCAP_APPLICATION lacks `uris`; Python samples read its metadata and listen on
VCAP_APP_PORT); each app echoes the values, which must be the ones Cloud Foundry documents.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devloop.core import cfenv
from devloop.providers.shared import project_id
from tests.devloop_process import DevloopProcess
from tests.helpers import http_request, wait_until

pytestmark = pytest.mark.docker
APPS = Path(__file__).resolve().parents[1] / "data" / "cf-env-apps"


@pytest.fixture
def project(tmp_path: Path) -> Iterator[Path]:
    folder = tmp_path / f"cf-env-{uuid.uuid4().hex[:6]}"
    shutil.copytree(APPS, folder)
    yield folder
    subprocess.run([sys.executable, "-m", "devloop", "down", "--provider", "docker"], cwd=folder,
                   capture_output=True, timeout=120)  # fmt: skip


def get_json(url: str) -> dict[str, Any]:
    status, body = http_request(url, timeout=5)
    assert status == 200, body.decode(errors="replace")
    value: dict[str, Any] = json.loads(body)
    return value


def test_cf_samples_environment_on_docker(project: Path) -> None:
    devloop = DevloopProcess("up", "--provider", "docker", "--no-tui", "--no-watch", cwd=project)
    try:
        node_url = devloop.wait_for(r"(http://cf-env-node\.localhost:(\d+))", timeout=600)
        python_url = devloop.wait_for(r"(http://cf-env-python\.localhost:\d+)", timeout=600).group(1)
        port = node_url.group(2)
        space = project_id(project / "manifest.yml")

        node = get_json(node_url.group(1))
        assert node == {
            "name": "CF Env Node",  # the name as written, not the DNS-safe one
            "uris": f"cf-env-node.localhost:{port}",  # the router's own port, as it serves it
            "space": space,
            "index": node["index"],
            "mem": 192,
            "disk": 512,
            "memory_limit": "192m",
            "instance_id_matches": True,
        }
        # Each of the two instances has its own index (the router takes turns).
        seen: set[str] = set()

        def both_seen() -> bool:
            seen.add(get_json(node_url.group(1))["index"])
            return seen == {"0", "1"}

        wait_until(both_seen, timeout=30, what="both instance indexes")

        python = get_json(python_url)
        env = python.pop("env")
        assert python == {
            "cf_api": cfenv.CF_API,
            "app_name": "cf-env-python",
            "app_uris": [f"cf-env-python.localhost:{port}"],
            "instance_index": 0,
            "space_name": space,
            "org_name": "devloop",
            "memory_limit": 128,
            "disk_limit": 1024,  # cf's default disk quota
            "process_type": "web",
            "application_id": cfenv.application_id(space, "cf-env-python"),
            "services": {},  # cf sets VCAP_SERVICES to {} for an app bound to nothing
        }
        assert str(uuid.UUID(env["CF_INSTANCE_GUID"])) == env["CF_INSTANCE_GUID"]
        assert {k: v for k, v in env.items() if k != "CF_INSTANCE_GUID"} == {
            "PORT": "8080",
            "MEMORY_LIMIT": "128m",
            "CF_INSTANCE_INDEX": "0",
            "CF_INSTANCE_IP": "127.0.0.1",
            "CF_INSTANCE_INTERNAL_IP": "127.0.0.1",
            "CF_INSTANCE_PORT": "8080",
            "CF_INSTANCE_ADDR": "127.0.0.1:8080",
            "CF_INSTANCE_PORTS": '[{"external":8080,"internal":8080}]',
        }
        assert devloop.interrupt() == 130
    finally:
        devloop.kill()
