"""Commands in a folder with no devloop.yaml and no manifest.yml, as `cf push` works in any folder."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from tests.cli.test_cli import REPO, devloop

NOTICE = "no devloop.yaml here: running web (python) in . as detected; `devloop init` saves it"


def bare_python_web(tmp_path: Path) -> Path:
    """samples/python-web without its devloop.yaml: an app.py and a requirements.txt."""
    folder = tmp_path / "web"
    shutil.copytree(REPO / "samples" / "python-web", folder)
    (folder / "devloop.yaml").unlink()
    return folder


def test_validate_runs_on_what_was_detected_and_says_so_once(tmp_path: Path) -> None:
    folder = bare_python_web(tmp_path)
    result = devloop("validate", "--provider", "docker", cwd=folder)
    assert result.returncode == 0, result.stderr
    assert result.stderr.count(NOTICE) == 1
    assert "web" in result.stdout
    assert sorted(p.name for p in folder.iterdir()) == ["app.py", "requirements.txt"]  # nothing written


def test_status_of_a_bare_folder_names_its_app_without_the_notice(tmp_path: Path) -> None:
    folder = bare_python_web(tmp_path)
    result = devloop("status", "--json", "--provider", "docker", cwd=folder)
    assert result.returncode == 0, result.stderr
    assert [app["name"] for app in json.loads(result.stdout)["apps"]] == ["web"]
    assert NOTICE not in result.stderr


def test_a_folder_with_nothing_to_detect_is_one_refusal_with_the_fix(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("no app here")
    result = devloop("up", "--no-tui", cwd=tmp_path)
    assert result.returncode == 2
    assert "no app found" in result.stderr and "add a Dockerfile" in result.stderr
    assert "Traceback" not in result.stderr


def test_set_env_needs_a_file_and_says_how_to_get_one(tmp_path: Path) -> None:
    folder = bare_python_web(tmp_path)
    result = devloop("set-env", "web", "KEY", "value", cwd=folder)
    assert result.returncode == 2 and "devloop init" in result.stderr
    assert not (folder / "devloop.yaml").exists()


def test_an_explicit_file_that_is_missing_is_still_an_error(tmp_path: Path) -> None:
    folder = bare_python_web(tmp_path)
    result = devloop("validate", "-f", "other.yaml", cwd=folder)
    assert result.returncode == 2 and "other.yaml does not exist" in result.stderr
