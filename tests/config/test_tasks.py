"""`tasks:` in devloop.yaml and a cf manifest's process types with `instances: 0`, as the loader reads them."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from devloop.config.loader import load_project
from devloop.core.spec import ProjectSpec, TaskSpec
from devloop.errors import ConfigError


def load(folder: Path, text: str, name: str = "devloop.yaml") -> ProjectSpec:
    path = folder / name
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    return load_project(path)


@pytest.mark.parametrize(
    ("tasks", "expected"),
    [
        ("[]", ()),
        ("[{name: migrate, command: python migrate.py}]", (TaskSpec("migrate", "python migrate.py"),)),
        ("[{name: migrate, command: m, before_start: true}, {name: seed, command: s, memory: 64M}]",
         (TaskSpec("migrate", "m", before_start=True), TaskSpec("seed", "s", memory_mb=64))),
    ],
)  # fmt: skip
def test_tasks_load_in_order(app_dir: Path, tasks: str, expected: tuple[TaskSpec, ...]) -> None:
    (app,) = load(app_dir, f"apps: [{{name: web, tasks: {tasks}}}]").apps
    assert app.tasks == expected


@pytest.mark.parametrize(
    ("tasks", "where", "message"),
    [
        ("[{name: Migrate, command: x}]", "1:35", "invalid task name 'Migrate'"),
        ("[{name: m}]", "1:28", "command"),
        ("[{name: m, command: ''}]", "1:47", "at least 1 character"),
        ("[{name: m, command: x, before_start: 'yes'}]", "1:64", "valid boolean"),
        ("[{name: m, command: x, memory: lots}]", "1:58", "invalid size 'lots'"),
        ("[{name: m, command: x}, {name: m, command: y}]", "1:58", "duplicate task name 'm'"),
        ("[{name: m, command: x, befor_start: true}]", "1:50", "did you mean 'before_start'"),
    ],
)  # fmt: skip
def test_bad_tasks_are_one_located_error(app_dir: Path, tasks: str, where: str, message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        load(app_dir, f"apps: [{{name: web, tasks: {tasks}}}]")
    text = raised.value.render()
    assert f"devloop.yaml:{where}" in text and message in text, text


def test_a_cf_process_with_no_instances_runs_none_and_is_noticed_as_a_task_template(app_dir: Path) -> None:
    project = load(
        app_dir,
        """
        applications:
        - name: web
          processes:
          - type: web
          - type: migrate
            command: python migrate.py
            instances: 0
          - type: worker
            command: python worker.py
        """,
        name="manifest.yml",
    )
    (app,) = project.apps
    assert [(p.type, p.instances) for p in app.processes] == [("migrate", 0), ("worker", 1)]
    assert app.tasks == ()  # cf never runs it by itself: not before start either
    (notice,) = [n for n in project.notices if "migrate" in n.message]
    assert notice.where == str(app_dir / "manifest.yml") + ":7:16"
    assert "`devloop task web --name migrate`" in notice.message and "instances: 0" in notice.message
