"""set-env / unset-env edit one app's env and leave every other line of the file as it was."""

from __future__ import annotations

import difflib
from pathlib import Path

import pytest

from devloop.config.edit import set_env, unset_env
from devloop.config.loader import load_project
from devloop.errors import UsageError

DEVLOOP_YAML = """\
# top comment
version: 1
provider: docker   # trailing comment
apps:
  - name: web
    # the web app
    memory: 128M
    env:
      A: "1"   # keep me
  - name: worker
    command: python w.py
"""

CF_MANIFEST = """\
---
# cf style: sequences not indented
applications:
- name: web
  memory: 256M
  routes:
  - route: web.example.com
"""


def changed_lines(before: str, after: str) -> list[str]:
    return [line for line in difflib.ndiff(before.splitlines(), after.splitlines()) if line[:1] in "+-"]


@pytest.mark.parametrize("name,text", [("devloop.yaml", DEVLOOP_YAML), ("manifest.yml", CF_MANIFEST)])
def test_set_then_unset_changes_only_the_env(tmp_path: Path, name: str, text: str) -> None:
    (tmp_path / "requirements.txt").write_text("")
    (tmp_path / "app.py").write_text("")
    path = tmp_path / name
    path.write_text(text)
    set_env(path, "web", "NEW_KEY", "new value")
    after = path.read_text()
    assert all(line.startswith("+") for line in changed_lines(text, after)), changed_lines(text, after)
    spec = load_project(path, {}).app("web")
    assert ("NEW_KEY", "new value") in spec.env
    assert unset_env(path, "web", "NEW_KEY")
    assert path.read_text() == text
    assert not unset_env(path, "web", "NEW_KEY")


def test_unknown_app(tmp_path: Path) -> None:
    path = tmp_path / "devloop.yaml"
    path.write_text(DEVLOOP_YAML)
    with pytest.raises(UsageError, match="no app named 'nope'"):
        set_env(path, "nope", "K", "V")
    assert path.read_text() == DEVLOOP_YAML
