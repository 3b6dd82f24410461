"""One-off processes of an app (cf `run-task`): what a task is, its name, its log tag, its words. Pure.

A task runs once in the app's current image with the app's env and bindings, and ends with an
exit code; a task marked `before_start` runs before each new version's instances start
(migrations, seeding) and holds them until it succeeds. Both providers and the engine use these.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from devloop.core.names import check_dns_1123_label
from devloop.core.spec import AppSpec, TaskSpec

TASK_SOURCE = "APP/TASK"  # cf's log source type for a task's output: `[APP/TASK/migrate]`
NAME_MAX = 40  # it names a container and a Job within 63 characters, with the app's name
LAST_LINES = 10  # a failed task's last lines, in its failure message


def check_task_name(name: str) -> str:
    """Task names become container and Job names: DNS-1123 labels, short."""
    return check_dns_1123_label(name, "task name", NAME_MAX)


def generated_name() -> str:
    """A name for a task run without `--name`: eight hex digits, as cf generates them."""
    return secrets.token_hex(4)


def source_of(task: str) -> str:
    """The log source of a task's output lines (their tag): `APP/TASK/migrate`."""
    return f"{TASK_SOURCE}/{task}"


def is_task_source(source: str) -> bool:
    return source.startswith(TASK_SOURCE + "/")


def before_start(app: AppSpec) -> tuple[TaskSpec, ...]:
    """The tasks that run, in config order, before the app's new instances start."""
    return tuple(t for t in app.tasks if t.before_start)


def find_task(app: AppSpec, name: str) -> TaskSpec | None:
    """The configured task `name`, else a process type of that name as cf's `run-task --process`
    uses one: its command as the task's, with its memory."""
    for task in app.tasks:
        if task.name == name:
            return task
    for process in app.processes:
        if process.type == name and process.command:
            return TaskSpec(name, process.command, memory_mb=process.memory_mb)
    return None


def runnable(app: AppSpec) -> list[str]:
    """What `devloop task APP --name N` can run without a command: tasks, then process types."""
    return [t.name for t in app.tasks] + [p.type for p in app.processes if p.command]


@dataclass(frozen=True)
class TaskResult:
    """How a task ended: its exit code and its last output lines (for a failure's message)."""

    app: str
    name: str
    exit_code: int
    last_lines: tuple[str, ...] = ()

    @property
    def succeeded(self) -> bool:
        return self.exit_code == 0

    def summary(self) -> str:
        """`task migrate succeeded` / `task migrate failed (exit 3)`, as the timeline says it."""
        if self.succeeded:
            return f"task {self.name} succeeded"
        return f"task {self.name} failed (exit {self.exit_code})"

    def failure(self) -> str:
        """Why a before-start task holds the app: which task and its exit code (its last lines go
        beside it, as a failed deploy's do)."""
        quiet = "" if self.last_lines else " (it printed nothing)"
        return f"before-start {self.summary()}{quiet}: {self.app} is not started"
