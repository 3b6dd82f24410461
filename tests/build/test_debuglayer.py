"""The debug layer's pure parts: the image's start command read from an inspect, the Dockerfile on
top of the app's image, the build context (debugpy world-readable), a tag per app image."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pytest

from devloop.build import debuglayer
from devloop.errors import UsageError


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


def test_go_takes_a_static_dlv_from_this_machine_or_says_how_to_get_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(UsageError, match="`dlv` is not on PATH") as missing:
        debuglayer.host_dlv()
    assert "go install github.com/go-delve/delve/cmd/dlv@latest" in missing.value.render()
    dlv = tmp_path / "dlv"
    dlv.write_bytes(b"\x7fELF" + b"\0" * 60 + b"/lib64/ld-linux-x86-64.so.2\0")
    dlv.chmod(0o755)
    with pytest.raises(UsageError, match="linked against the host's libc"):
        debuglayer.host_dlv()
    dlv.write_bytes(b"\x7fELF" + b"\0" * 200)
    assert debuglayer.host_dlv() == dlv
    assert debuglayer.go_dockerfile("devloop/go:1") == "FROM devloop/go:1\nCOPY dlv /opt/devloop/dlv\n"
    with tarfile.open(fileobj=io.BytesIO(debuglayer.context_tar(tmp_path, "FROM x\n", "dlv"))) as tar:
        assert tar.getmember("dlv").mode == 0o755


def test_debugpy_comes_from_this_pythons_own_copy_into_the_cache(tmp_path: Path) -> None:
    import asyncio
    import stat

    pytest.importorskip("debugpy")
    if debuglayer.installed_debugpy() is None:
        pytest.skip(f"this Python's debugpy is not {debuglayer.DEBUGPY_VERSION}")
    root = asyncio.run(debuglayer.debugpy_tree(tmp_path / "cache"))
    assert (root / "debugpy" / "__main__.py").is_file()
    assert stat.S_IMODE((tmp_path / "cache" / "debugpy").stat().st_mode) == 0o700  # user-only
    assert asyncio.run(debuglayer.debugpy_tree(tmp_path / "cache")) == root  # once
