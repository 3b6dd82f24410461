"""Tasks on the docker provider (cf `run-task`): a container from the app's image on the project's
network, with the app's env and bindings, followed to its end and removed.

A task container carries the project's label, so `devloop down` removes one left by a SIGKILL,
but not the app's: it is no instance, and the instance watch and rollouts never see it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import secrets
import time
from collections.abc import Awaitable, Callable

from devloop.adapters.dockerapi import ContainerSpec
from devloop.core import cfenv
from devloop.core.events import InstanceStatus
from devloop.core.processes import WEB
from devloop.core.spec import AppSpec, TaskSpec
from devloop.core.tasks import source_of
from devloop.errors import DockerNotFoundError, ProviderError
from devloop.providers.base import Progress, TaskOutput
from devloop.providers.docker.containers import Containers
from devloop.providers.docker.labels import LABEL_IMAGE, LABEL_PROJECT, labels_of, process_of, sidecar_of
from devloop.providers.docker.stream import log_lines

LABEL_TASK = "devloop.task"  # the task's name
LABEL_TASK_APP = "devloop.task-app"  # the app it runs for (not devloop.app: a task is no instance)
EXIT_POLL_S = 0.05


def current_image(containers: Containers, app: AppSpec) -> str | None:
    """The image of the app's running web instances (the newest, mid-rollout); None when none runs."""
    running = [
        c for c in containers.summaries(app)
        if c.status == "running" and process_of(c) == WEB and not sidecar_of(c)
    ]  # fmt: skip
    images = [labels_of(c).get(LABEL_IMAGE) for c in running]
    return next((image for image in reversed(images) if image), None)


def is_task(labels: dict[str, str]) -> bool:
    return LABEL_TASK in labels


def task_labels(project: str, app: str) -> list[str]:
    """The label filter of one app's task containers."""
    return [f"{LABEL_PROJECT}={project}", f"{LABEL_TASK_APP}={app}"]


async def run_task(
    containers: Containers,
    bind: Callable[[AppSpec, Progress], Awaitable[AppSpec]],
    app: AppSpec,
    image: str,
    task: TaskSpec,
    output: TaskOutput,
    progress: Progress,
    router_port: int,
) -> int:
    """The task's exit code, its output lines to `output`; its container is gone afterwards."""
    bound = await bind(app, progress)
    await containers.call(containers.ensure_network)
    system = cfenv.instance_env(
        bound, project=containers.project_id, process="task", index=0, generation=task.name, image=image,
        router_port=router_port, ip="127.0.0.1", started_at=time.time(),
    )  # fmt: skip
    env = {**cfenv.unbound_services(bound), **dict(bound.env), **dict(bound.secret_env), **system}
    spec = ContainerSpec(
        image=image,
        name=f"devloop-{app.name}-task-{task.name}-{secrets.token_hex(3)}",
        labels={LABEL_PROJECT: containers.project_id, LABEL_TASK_APP: app.name, LABEL_TASK: task.name},
        environment=env,
        entrypoint=("/bin/sh", "-c", task.command),
        command=(),
        network=containers.network,
        restart_policy="no",
        init=True,
        security_opt=("no-new-privileges",),
        memory_mb=task.memory_mb or app.memory_mb,
    )
    engine = containers.engine
    cid = await containers.call(engine.create_container, spec)
    try:
        await containers.call(engine.start, cid)
        progress(f"task {task.name} started from {image}")
        following = InstanceStatus(app.name, 0, cid, "running")
        async for line in log_lines(lambda: engine, following, None, True, None):
            output(dataclasses.replace(line, source=source_of(task.name), instance=None, process=""))
        while True:  # the log ends when the container stops; its state may lag a moment behind
            try:
                info = await containers.call(containers.get, cid)
            except DockerNotFoundError:
                gone = f"task {task.name}: its container was removed (`devloop down`?)"
                raise ProviderError(gone) from None
            if info.status in ("exited", "dead"):
                return 137 if info.oom_killed and not info.exit_code else int(info.exit_code or 0)
            await asyncio.sleep(EXIT_POLL_S)
    finally:
        # Also on Ctrl-C (a cancelled task): no container stays behind.
        await asyncio.shield(containers.call(containers.remove_ids, [cid]))
