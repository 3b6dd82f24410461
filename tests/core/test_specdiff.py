"""diff_projects(): which fields a saved config changed, and what only a restart can apply."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from devloop.core.spec import AppSpec, HealthCheck, ProjectSpec
from devloop.core.specdiff import describe_fields, diff_projects

WEB = AppSpec("web", Path("/src"), instances=2, memory_mb=128)
PROJECT = ProjectSpec(Path("/src/devloop.yaml"), (WEB, AppSpec("api", Path("/api"))))


@pytest.mark.parametrize(
    ("edited", "changed", "restart"),
    [
        (PROJECT, (), ()),
        (replace(PROJECT, apps=(replace(WEB, instances=3, memory_mb=200), PROJECT.apps[1])),
         (("web", "instances, memory"),), ()),
        (replace(PROJECT, apps=(replace(WEB, health=HealthCheck(timeout_s=5)), PROJECT.apps[1])),
         (("web", "health check"),), ()),
        (replace(PROJECT, router_port=9000), (), ("router_port",)),
        (replace(PROJECT, apps=(WEB,)), (), ("app api removed",)),
        (replace(PROJECT, apps=(*PROJECT.apps, AppSpec("new", Path("/n")))), (), ("app new added",)),
    ],
)  # fmt: skip
def test_diff_names_each_changed_field_and_what_needs_a_restart(
    edited: ProjectSpec, changed: tuple[tuple[str, str], ...], restart: tuple[str, ...]
) -> None:
    edit = diff_projects(PROJECT, edited)
    assert tuple((spec.name, describe_fields(fields)) for spec, fields in edit.changed) == changed
    assert edit.needs_restart == restart
