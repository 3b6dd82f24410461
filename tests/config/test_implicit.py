"""A folder with no config runs as `devloop init` would configure it, with one line saying so."""

from __future__ import annotations

from pathlib import Path

import pytest

from devloop.cli.init import init
from devloop.config.implicit import detect_project, has_config
from devloop.config.loader import load_project
from devloop.errors import UsageError


def python_app(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "requirements.txt").write_text("flask\n")
    (folder / "app.py").write_text("print('hi')\n")
    return folder


def test_a_bare_python_folder_is_one_app_named_after_it(tmp_path: Path) -> None:
    folder = python_app(tmp_path / "My Shop")
    detected = detect_project(folder, provider_override="docker")
    (app,) = detected.project.apps
    assert app.name == "my-shop" and app.source == folder.resolve() and app.port == 8080
    assert detected.project.provider.value == "docker"
    assert "my-shop (python) in ." in detected.notice and "`devloop init` saves it" in detected.notice
    assert not has_config(folder)  # nothing was written


def test_several_app_folders_one_level_down_are_several_apps(tmp_path: Path) -> None:
    python_app(tmp_path / "api")
    (tmp_path / "web").mkdir()
    (tmp_path / "web" / "Dockerfile").write_text("FROM busybox:1.36\n")
    (tmp_path / "node_modules").mkdir()  # never an app
    (tmp_path / "node_modules" / "package.json").write_text("{}")
    detected = detect_project(tmp_path)
    assert [a.name for a in detected.project.apps] == ["api", "web"]
    assert "api (python) in api, web (Dockerfile) in web" in detected.notice


def test_detected_is_exactly_what_init_would_write(tmp_path: Path) -> None:
    python_app(tmp_path / "svc")
    detected = detect_project(tmp_path / "svc")
    written, _found = init(tmp_path / "svc")
    assert load_project(written) == detected.project  # same apps, same project id (same file path)


def test_nothing_to_detect_is_one_refusal_with_the_fix(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("not an app")
    with pytest.raises(UsageError) as refused:
        detect_project(tmp_path)
    assert "no app found" in str(refused.value) and "Dockerfile" in (refused.value.hint or "")


@pytest.mark.parametrize("name", ["devloop.yaml", "devloop.yml", "manifest.yml", "manifest.yaml"])
def test_any_config_file_means_the_folder_has_a_config(tmp_path: Path, name: str) -> None:
    (tmp_path / name).write_text("")
    assert has_config(tmp_path)
