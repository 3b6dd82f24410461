"""The debug layer's pure parts: the image's start command read from an inspect, the Dockerfile on
top of the app's image, the build context (debugpy world-readable), a tag per app image."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

from devloop.build import debuglayer


def test_the_images_start_command_comes_from_its_inspect() -> None:
    inspect = json.dumps([{"Id": "sha256:abc", "Config": {"Entrypoint": None, "Cmd": ["python", "app.py"],
                                                          "WorkingDir": "/app"}}])  # fmt: skip
    assert debuglayer.parse_inspect(inspect) == debuglayer.ImageConfig("sha256:abc", (), ("python", "app.py"), "/app")


def test_debugpy_goes_on_top_of_the_apps_image_and_on_its_pythonpath(tmp_path: Path) -> None:
    dockerfile = debuglayer.python_dockerfile("devloop/web:abc")
    assert dockerfile.splitlines() == [
        "FROM devloop/web:abc",
        "COPY debugpy /opt/devloop/debugpy/debugpy",
        "ENV PYTHONPATH=/opt/devloop/debugpy${PYTHONPATH:+:$PYTHONPATH}",
    ]
    (tmp_path / "debugpy").mkdir(mode=0o700)
    (tmp_path / "debugpy" / "__main__.py").write_text("")
    (tmp_path / "debugpy" / "__main__.py").chmod(0o600)
    with tarfile.open(fileobj=io.BytesIO(debuglayer.context_tar(tmp_path, dockerfile))) as tar:
        modes = {m.name: (m.mode, m.uid) for m in tar.getmembers()}
    assert modes == {"debugpy": (0o755, 0), "debugpy/__main__.py": (0o644, 0), "Dockerfile": (0o644, 0)}


def test_one_debug_image_per_app_image_and_debugpy_version() -> None:
    first = debuglayer.layer_tag("web", "sha256:abc")
    assert first.startswith("devloop-debug/web:") and first == debuglayer.layer_tag("web", "sha256:abc")
    assert first != debuglayer.layer_tag("web", "sha256:abd")
