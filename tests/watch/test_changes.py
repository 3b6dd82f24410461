"""Classifying a batch: sync, rebuild or nothing (pure)."""

from __future__ import annotations

from pathlib import Path

import pytest

from devloop.core.changes import Action, plan_changes, sync_target
from devloop.core.spec import AppSpec, SyncRule

APP = AppSpec(
    "web", Path("/src"),
    sync=(SyncRule("**/*.py", "/app"), SyncRule("static/", "/app/public"), SyncRule("templates/index.html", "/srv")),
)  # fmt: skip


@pytest.mark.parametrize(
    ("files", "action"),
    [
        ({"app.py"}, Action.SYNC),
        ({"pkg/mod.py", "static/site.css"}, Action.SYNC),
        ({"app.py", "requirements.txt"}, Action.REBUILD),
        ({"Dockerfile"}, Action.REBUILD),
        ({"app.py", ".app.py.swp"}, Action.SYNC),
    ],
)
def test_action(files: set[str], action: Action) -> None:
    plan = plan_changes(APP, files)
    assert plan is not None and plan.action is action


def test_only_editor_files_mean_nothing() -> None:
    assert plan_changes(APP, {".app.py.swp", "4913", "app.py~"}) is None


def test_an_app_without_sync_rules_always_rebuilds() -> None:
    plan = plan_changes(AppSpec("x", Path("/src")), {"app.py"})
    assert plan is not None and plan.action is Action.REBUILD


@pytest.mark.parametrize(
    ("src", "rel", "dest"),
    [
        ("*.py", "app.py", "/app/app.py"),
        ("*.py", "pkg/app.py", None),
        ("**/*.py", "pkg/deep/app.py", "/app/pkg/deep/app.py"),
        ("src/**/*.py", "src/pkg/a.py", "/app/pkg/a.py"),
        ("src/**/*.py", "other/a.py", None),
        ("static/", "static/css/site.css", "/app/css/site.css"),
        ("static", "static/site.css", "/app/site.css"),
        ("static", "staticfiles/x.css", None),
        ("templates/index.html", "templates/index.html", "/app/index.html"),
    ],
)
def test_sync_targets(src: str, rel: str, dest: str | None) -> None:
    assert sync_target(SyncRule(src, "/app"), rel) == dest


def test_sync_copies_carry_their_destinations() -> None:
    plan = plan_changes(APP, {"pkg/mod.py", "static/site.css", "templates/index.html"})
    assert plan is not None
    assert {(c.rel, c.dest) for c in plan.copies} == {
        ("pkg/mod.py", "/app/pkg/mod.py"),
        ("static/site.css", "/app/public/site.css"),
        ("templates/index.html", "/srv/index.html"),
    }
