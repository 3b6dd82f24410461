"""`debug:` in devloop.yaml: on, `wait`, or off; anything else one located message; never exported."""

from __future__ import annotations

from pathlib import Path

import pytest

from devloop.cli.export import dump, objects_for
from devloop.config.loader import load_project
from devloop.errors import ConfigError

CONFIG = """\
version: 1
provider: docker
apps:
  - {name: web, image: "python:3.12-slim", command: python app.py, debug: %s}
  - {name: api, image: "node:22-slim", command: node server.js}
"""


@pytest.mark.parametrize(("written", "mode"), [("true", "on"), ("wait", "wait"), ("false", "")])
def test_debug_is_on_wait_or_off(tmp_path: Path, written: str, mode: str) -> None:
    (tmp_path / "devloop.yaml").write_text(CONFIG % written)
    project = load_project(tmp_path / "devloop.yaml")
    assert [a.debug for a in project.apps] == [mode, ""]


def test_a_bad_debug_value_names_its_line(tmp_path: Path) -> None:
    (tmp_path / "devloop.yaml").write_text(CONFIG % "later")
    with pytest.raises(ConfigError, match=r"devloop.yaml:4:\d+"):
        load_project(tmp_path / "devloop.yaml")


def test_export_never_writes_debug_settings(tmp_path: Path) -> None:
    (tmp_path / "devloop.yaml").write_text(CONFIG % "wait")
    project = load_project(tmp_path / "devloop.yaml")
    images = {a.name: a.image or "" for a in project.apps}
    text = "".join(dump(obj) for _app, obj in objects_for(project, images, "p"))
    assert "python app.py" in text  # the app's own command, as written
    for debug_setting in ("debugpy", "5678", "NODE_OPTIONS", "inspect", "jdwp", "JAVA_TOOL_OPTIONS", "dlv"):
        assert debug_setting not in text
