"""Tasks on the kind provider (cf `run-task`): a Job from the app's image, its pod's log followed
to the end, its exit code read from the pod's terminated state, and the Job deleted after.

The Job's pod reads the app's ConfigMap, Secret and bindings as its Deployment's pods do, so
those are applied first (the same objects a deploy applies: a task before any deploy works).
"""

from __future__ import annotations

import asyncio
import secrets
import time

from devloop.adapters.kube import KubeClient
from devloop.adapters.kubewire import Obj
from devloop.core.spec import AppSpec, TaskSpec
from devloop.errors import ProviderError
from devloop.providers.base import Progress, TaskOutput
from devloop.providers.kind.jobs import (
    LABEL_TASK_APP,
    TASK_CONTAINER,
    TaskPod,
    job_name,
    job_object,
    run_selector,
    task_pod,
    tasks_selector,
)
from devloop.providers.kind.pods import container_of
from devloop.providers.kind.rollout import runs_as_numeric_non_root
from devloop.providers.shared import task_line

POLL_S = 0.2
START_BUDGET_S = 120.0  # pulling and scheduling: a pod that has not started by then never will


async def current_image(kube: KubeClient, namespace: str, app: AppSpec) -> str | None:
    """The image in the app's web Deployment (what its pods run, or are rolling to)."""
    deployment = await kube.get("apps/v1", f"deployments/{app.name}", namespace)
    if deployment is None:
        return None
    template = {"spec": deployment["spec"]["template"]["spec"]}
    name = container_of(template, app.name)
    images = [c.get("image") for c in template["spec"].get("containers") or [] if c.get("name") == name]
    return str(images[0]) if images and images[0] else None


class JobRun:
    """One run of a task: its Job applied, its pod followed, the Job deleted after."""

    def __init__(self, kube: KubeClient, namespace: str, project: str, router_port: int) -> None:
        self.kube = kube
        self.namespace = namespace
        self.project = project
        self.router_port = router_port

    async def run(
        self, app: AppSpec, image: str, task: TaskSpec, env_objects: list[Obj], output: TaskOutput,
        progress: Progress,
    ) -> int:  # fmt: skip
        for obj in env_objects:  # the ConfigMap, Secret and bindings the pod reads
            await self.kube.apply(obj, self.namespace)
        root = not await asyncio.to_thread(runs_as_numeric_non_root, image)
        name = job_name(app.name, task.name, secrets.token_hex(3))
        job = job_object(app, image, task, name=name, project=self.project, namespace=self.namespace,
                         router_port=self.router_port, root_image=root)  # fmt: skip
        await self.kube.apply(job, self.namespace)
        try:
            progress(f"task {task.name} started as Job {name} from {image}")
            pod = await self._started(name, task)
            return await self._follow(app, task, pod, output)
        finally:
            # Also on Ctrl-C (a cancelled task): the Job goes, and with it its pod (Background).
            await asyncio.shield(self.kube.delete("batch/v1", f"jobs/{name}", self.namespace))

    async def _pod(self, job: str) -> Obj | None:
        listing = await self.kube.list_objects("v1", "pods", self.namespace, run_selector(job))
        items = listing.get("items") or []
        return items[0] if items else None

    async def _started(self, job: str, task: TaskSpec) -> str:
        """The name of the Job's pod once its container runs (or already ended)."""
        deadline = time.monotonic() + START_BUDGET_S
        while True:
            pod = await self._pod(job)
            state = task_pod(pod) if pod is not None else TaskPod("waiting")
            if pod is not None and state.phase in ("running", "done"):
                return str(pod["metadata"]["name"])
            if state.phase == "stalled":
                raise ProviderError(f"task {task.name}: its pod {state.reason}")
            if time.monotonic() > deadline:
                raise ProviderError(f"task {task.name}: its pod did not start within {START_BUDGET_S:.0f}s")
            await asyncio.sleep(POLL_S)

    async def _follow(self, app: AppSpec, task: TaskSpec, pod: str, output: TaskOutput) -> int:
        """Every line of the pod's log until its container ends (a dropped stream is followed again
        from its last line), then its exit code."""
        last_ns = 0
        while True:
            since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(last_ns / 1e9)) if last_ns else None
            async for raw in self.kube.logs(
                self.namespace, pod, TASK_CONTAINER, follow=True, since_time=since, tail_lines=None
            ):
                line = task_line(app.name, task.name, raw, pod)
                if line.timestamp_ns > last_ns:
                    last_ns = line.timestamp_ns
                    output(line)
            current = await self.kube.get("v1", f"pods/{pod}", self.namespace)
            gone = TaskPod("stalled", reason="was deleted (`devloop down`?)")
            state = task_pod(current) if current is not None else gone
            if state.phase == "done" and state.exit_code is not None:
                return state.exit_code
            if state.phase == "stalled":
                raise ProviderError(f"task {task.name}: its pod {state.reason}")
            await asyncio.sleep(POLL_S)  # the log ended before the kubelet reported the exit


async def remove_tasks(kube: KubeClient, namespace: str, project: str, apps: set[str] | None) -> None:
    """Delete the task Jobs of the project (of `apps`), their pods with them: `devloop down`."""
    listing = await kube.list_objects("batch/v1", "jobs", namespace, tasks_selector(project))
    for job in listing.get("items") or []:
        if apps is not None and (job["metadata"].get("labels") or {}).get(LABEL_TASK_APP) not in apps:
            continue
        await kube.delete("batch/v1", f"jobs/{job['metadata']['name']}", namespace)
