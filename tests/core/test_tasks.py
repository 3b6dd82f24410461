"""Tasks in the model: names, log tags, which run before start, and how a failure is told."""

from __future__ import annotations

from pathlib import Path

import pytest

from devloop.core.logbuffer import LogLine
from devloop.core.spec import AppSpec, ProcessSpec, TaskSpec
from devloop.core.tasks import (
    TaskResult,
    before_start,
    check_task_name,
    find_task,
    generated_name,
    is_task_source,
    runnable,
    source_of,
)

APP = AppSpec(
    "web",
    Path("/app"),
    tasks=(TaskSpec("seed", "python seed.py"), TaskSpec("migrate", "python migrate.py", before_start=True)),
    processes=(ProcessSpec("worker", "python worker.py", instances=0, memory_mb=64),),
)


@pytest.mark.parametrize("name", ["migrate", "a", "db-seed-2", "0abc"])
def test_valid_task_names(name: str) -> None:
    assert check_task_name(name) == name


@pytest.mark.parametrize("name", ["", "Migrate", "-x", "x-", "a_b", "a" * 41, "a.b"])
def test_invalid_task_names_say_the_rule(name: str) -> None:
    with pytest.raises(ValueError, match="lower-case letters, digits and '-'"):
        check_task_name(name)


def test_a_generated_name_is_eight_hex_digits_and_valid() -> None:
    names = {generated_name() for _ in range(20)}
    assert len(names) > 1
    for name in names:
        assert len(name) == 8 and int(name, 16) >= 0
        check_task_name(name)


def test_a_task_line_is_tagged_app_task_name() -> None:
    line = LogLine("web", source_of("migrate"), "hi")
    assert line.tag == "APP/TASK/migrate"
    assert is_task_source(line.source) and not is_task_source("APP")


def test_before_start_keeps_config_order_and_only_marked_tasks() -> None:
    assert [t.name for t in before_start(APP)] == ["migrate"]


def test_a_process_type_is_a_task_template_as_cf_run_task_process() -> None:
    assert find_task(APP, "seed") == APP.tasks[0]
    assert find_task(APP, "worker") == TaskSpec("worker", "python worker.py", memory_mb=64)
    assert find_task(APP, "nope") is None
    assert runnable(APP) == ["seed", "migrate", "worker"]


def test_results_in_the_timeline_words_and_a_failure_names_the_task_code_and_lines() -> None:
    assert TaskResult("web", "m", 0).summary() == "task m succeeded"
    failed = TaskResult("web", "m", 3, ("line 1",))
    assert failed.summary() == "task m failed (exit 3)"
    assert failed.failure() == "before-start task m failed (exit 3): web is not started"
    assert TaskResult("web", "m", 1).failure() == (
        "before-start task m failed (exit 1) (it printed nothing): web is not started"
    )
