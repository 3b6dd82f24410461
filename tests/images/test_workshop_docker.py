"""The workshop round trip on the real engine: pack a sample whose base image no registry has (a
private tag of the local stand-in base, so removing it hurts no other test), remove the base,
see pack refuse before writing anything, unpack, and `devloop push` the sample: it builds and
serves with no pull possible (the layers stay on the engine under the stand-in's own name; the
private name comes back from the archive only). A corrupted item: test_workshop.py, no Docker."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
import tarfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from devloop.adapters.dockercli import detect
from tests.helpers import http_get, wait_until

pytestmark = pytest.mark.docker
STAND_IN = "devloop-base/debian:bookworm"
SERVER = (
    "perl -MIO::Socket::INET -e '$s=IO::Socket::INET->new(LocalPort=>$ENV{PORT},Listen=>5,ReuseAddr=>1)"
    " or die $!; while($c=$s->accept){ while(<$c>){last if /^\\r?$/}"
    ' print $c "HTTP/1.1 200 OK\\r\\nContent-Length: 8\\r\\nConnection: close\\r\\n\\r\\nworkshop"; close $c }\''
)


def docker(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run([detect().path, *args], capture_output=True, text=True, check=check, timeout=120)


def devloop(folder: Path, *args: str, state: Path, auto_prune: bool = False) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "XDG_STATE_HOME": str(state), "DEVLOOP_AUTO_PRUNE": "1" if auto_prune else "0"}
    return subprocess.run([sys.executable, "-m", "devloop", *args], cwd=folder, capture_output=True, text=True,
                          timeout=180, env=env)  # fmt: skip


def project_app(project: Path) -> str:
    return str(re.findall(r"name: (ws\w+)", (project / "devloop.yaml").read_text())[0])


def empty_tar() -> bytes:
    buffer = io.BytesIO()
    tarfile.open(fileobj=buffer, mode="w").close()
    return buffer.getvalue()


@pytest.fixture
def sample(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """A docker-provider project whose Dockerfile starts FROM a private name of the stand-in base."""
    token = uuid.uuid4().hex[:8]
    base = f"devloop-workshop-{token}/base:1"
    docker("tag", STAND_IN, base)
    project = tmp_path / "room"
    (project / "web").mkdir(parents=True)
    (project / "web" / "Dockerfile").write_text(
        f"ARG BASE={base}\nFROM $BASE AS run\nCMD {SERVER}\n"
    )
    (project / "devloop.yaml").write_text(
        f"provider: docker\nkeep_images: 1\napps:\n  - name: ws{token}\n    path: web\n"
        "    health_check: {type: port}\n"
    )
    yield project, base
    devloop(project, "down", state=tmp_path / "state")
    docker("rmi", base, check=False)
    for line in docker("image", "ls", "--format", "{{.Repository}}:{{.Tag}}", f"devloop/ws{token}").stdout.split():
        docker("rmi", line, check=False)


def test_pack_remove_unpack_and_push_serves_with_no_pull_possible(sample: tuple[Path, str], tmp_path: Path) -> None:
    project, base = sample
    state = tmp_path / "state"
    archive = tmp_path / "workshop.tar"
    packed = devloop(project, "pack", "-o", str(archive), "--no-wheels", state=state)
    assert packed.returncode == 0, packed.stderr
    assert f"saved {base} (" in packed.stderr  # progress per image
    assert re.search(r"wrote .*workshop\.tar \([\d.]+ MB\): 1 image\(s\), 0 wheel\(s\)", packed.stdout)

    docker("rmi", base)
    refused = devloop(project, "pack", "-o", str(tmp_path / "again.tar"), "--no-wheels", state=state)
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert f"{base} (base image of ws" in refused.stderr and f"`docker pull {base}`" in refused.stderr
    assert "nothing written" in refused.stderr and not list(tmp_path.glob("again.tar*"))
    unpacked = devloop(project, "unpack", str(archive), state=state)
    assert unpacked.returncode == 0, unpacked.stderr
    assert f"loaded 1 image(s) into the engine: {base}" in unpacked.stdout
    assert docker("image", "inspect", base, check=False).returncode == 0

    old = f"devloop/{project_app(project)}:{'0' * 16}"  # an older content tag: the budget removes it
    subprocess.run([detect().path, "image", "import", "-", old], input=empty_tar(), check=True, capture_output=True)
    pushed = devloop(project, "push", state=state, auto_prune=True)
    assert pushed.returncode == 0, pushed.stdout + pushed.stderr
    address = re.search(r"^ws\w+: (http://127\.0\.0\.1:\d+)", pushed.stdout, re.M)
    assert address, pushed.stdout
    assert wait_until(lambda: http_get(address.group(1)), timeout=20, what="the sample") == "workshop"
    assert "pruned images beyond the newest 1 per app: local engine" in pushed.stdout + pushed.stderr
    assert docker("image", "inspect", old, check=False).returncode != 0
