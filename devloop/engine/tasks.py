"""Running tasks (cf `run-task`) from the engine and the CLI alike: one run, its last lines kept for
a failure's message; and the before-start tasks that hold a new version until they succeed.

A before-start task runs from the new image after it is delivered and before any new instance
starts: when it fails, the deploy fails with the task's name, exit code and last lines, and the
old version keeps serving, as after any failed deploy.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING

from devloop.core import events as ev
from devloop.core.logbuffer import LogLine
from devloop.core.spec import AppSpec, TaskSpec
from devloop.core.tasks import LAST_LINES, TaskResult, before_start
from devloop.errors import DeployError
from devloop.providers.base import Progress, Provider

if TYPE_CHECKING:
    from devloop.engine.loop import Engine


async def run_task(
    provider: Provider, app: AppSpec, image: str, task: TaskSpec, output: Callable[[LogLine], None],
    progress: Progress,
) -> TaskResult:  # fmt: skip
    """Run `task` once; its lines to `output`; how it ended, with its last lines."""
    last: deque[str] = deque(maxlen=LAST_LINES)

    def keep(line: LogLine) -> None:
        last.append(line.text)
        output(line)

    code = await provider.run_task(app, image, task, keep, progress)
    return TaskResult(app.name, task.name, code, tuple(last))


async def run_before_start(engine: Engine, app: AppSpec, image: str, progress: Progress) -> None:
    """The app's before-start tasks, in order, from `image`; DeployError at the first that fails."""
    for task in before_start(app):
        progress(f"running before-start task {task.name}: the new instances wait for it")
        result = await run_task(engine.provider, app, image, task, engine.logs.add, progress)
        engine.post(ev.TaskFinished(app.name, task.name, result.exit_code))
        if not result.succeeded:
            raise DeployError(result.failure(), result.last_lines)
        progress(result.summary())
