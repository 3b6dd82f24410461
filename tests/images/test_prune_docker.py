"""`devloop prune` on the real engine: a few tiny content tags of an app of its own, a container
running the oldest; prune keeps exactly the newest N and the running one, and says what it freed."""

from __future__ import annotations

import io
import json
import subprocess
import tarfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from devloop.adapters.dockercli import detect
from tests.cli.test_cli import devloop

pytestmark = pytest.mark.docker
BASE = "devloop-base/debian:bookworm"  # a local stand-in image every docker test has


def tags_of(repository: str) -> list[str]:
    out = subprocess.run([detect().path, "image", "ls", "--format", "{{json .}}", repository],
                         check=True, capture_output=True, text=True).stdout  # fmt: skip
    return sorted(json.loads(line)["Tag"] for line in out.splitlines() if line.strip())


@pytest.fixture
def app(tmp_path: Path) -> Iterator[str]:
    """An app name no other test uses; its images and container are gone afterwards."""
    name = f"prune{uuid.uuid4().hex[:8]}"
    yield name
    docker = detect().path
    subprocess.run([docker, "rm", "-f", f"{name}-running"], capture_output=True, check=False)
    for tag in tags_of(f"devloop/{name}"):
        subprocess.run([docker, "rmi", f"devloop/{name}:{tag}"], capture_output=True, check=False)


def test_prune_keeps_exactly_n_and_never_the_running_one(app: str, tmp_path: Path) -> None:
    docker = detect().path
    made = [f"{n:016x}" for n in range(1, 6)]  # made in this order: the first is the oldest
    (tmp_path / "Dockerfile").write_text(f"FROM {BASE}\nLABEL devloop.prune-test={app}\n")
    subprocess.run([docker, "build", "-q", "-t", f"devloop/{app}:{made[0]}", str(tmp_path)],
                   check=True, capture_output=True)  # fmt: skip
    empty = io.BytesIO()
    tarfile.open(fileobj=empty, mode="w").close()
    for n, tag in enumerate(made[1:]):  # tiny images of their own (an import is one empty layer)
        subprocess.run([docker, "image", "import", "--message", f"{app}-{n}", "-", f"devloop/{app}:{tag}"],
                       input=empty.getvalue(), check=True, capture_output=True)  # fmt: skip
    subprocess.run([docker, "run", "-d", "--name", f"{app}-running", f"devloop/{app}:{made[0]}",
                    "sleep", "60"], check=True, capture_output=True)  # fmt: skip
    project = tmp_path / "project"
    (project / "src").mkdir(parents=True)
    (project / "src" / "Dockerfile").write_text(f"FROM {BASE}\n")
    (project / "devloop.yaml").write_text(
        f"provider: docker\nkeep_images: 2\napps:\n  - name: {app}\n    path: src\n"
    )

    dry = devloop("prune", "--dry-run", cwd=project)
    assert dry.returncode == 0, dry.stderr
    assert "local engine: would remove 2 image(s)" in dry.stdout
    assert tags_of(f"devloop/{app}") == made

    done = devloop("prune", cwd=project)
    assert done.returncode == 0, done.stderr
    assert tags_of(f"devloop/{app}") == sorted([made[0], made[3], made[4]])
    assert "local engine: removed 2 tag(s), freed" in done.stdout
    assert "1 older kept because an instance runs it" in done.stdout
