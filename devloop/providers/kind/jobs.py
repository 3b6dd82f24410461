"""A task as a Kubernetes Job, and what its pod's status says about it. Pure.

cf `run-task` runs a process once in the app's droplet; on Kubernetes that is a batch/v1 Job of
one pod that is never retried (`backoffLimit: 0`, `restartPolicy: Never`), from the app's image,
reading the app's ConfigMap, Secret and bindings as its Deployment's pods do, and cleaned up by
the TTL controller should devloop not delete it itself. Its pods carry no `app.kubernetes.io/name`
label: a task is no instance, and the instance watch never counts it.
"""

from __future__ import annotations

import re
from typing import Any, NamedTuple

from devloop.core import cfenv
from devloop.core.spec import AppSpec, TaskSpec
from devloop.providers.kind.objects import CONTAINER_SECURITY, MANAGED_BY, POD_SECURITY, label_value
from devloop.providers.kind.pods import LABEL_COMPONENT, LABEL_PROJECT, STALLED

Obj = dict[str, Any]
LABEL_TASK = "devloop.dev/task"
LABEL_TASK_APP = "devloop.dev/task-app"
TASK_CONTAINER = "task"
TTL_S = 600  # a Job devloop could not delete (a SIGKILL) goes by itself after ten minutes
JOB_NAME_MAX = 52  # the pod's name adds `-xxxxx`, and the Job's name is a label value (63)


def job_name(app: str, task: str, run: str) -> str:
    """`web-migrate-1a2b3c`: the app, the task, and a run id so two runs never share a name."""
    stem = f"{app}-{task}"[: JOB_NAME_MAX - len(run) - 1].rstrip("-")
    return f"{stem}-{run}"


def task_labels(project: str, app: str, task: str) -> dict[str, str]:
    return {
        LABEL_PROJECT: label_value(project),
        LABEL_TASK_APP: app,
        LABEL_TASK: task,
        LABEL_COMPONENT: "task",
        "app.kubernetes.io/managed-by": MANAGED_BY,
    }


def tasks_selector(project: str) -> str:
    """The label selector of the project's task Jobs (and their pods)."""
    return f"{LABEL_PROJECT}={label_value(project)},{LABEL_TASK}"


def run_selector(name: str) -> str:
    """The pods of one Job, by the label the Job controller puts on them."""
    return f"batch.kubernetes.io/job-name={name}"


def job_object(
    app: AppSpec, image: str, task: TaskSpec, *, name: str, project: str, namespace: str,
    router_port: int, root_image: bool = False,
) -> Obj:  # fmt: skip
    """The Job that runs `task` once from `image` with the app's environment and bindings."""
    env = cfenv.pod_env(
        app, project=project, process="task", image=image, app_uris=cfenv.uris(app, router_port),
    )  # fmt: skip
    env += [{"name": k, "value": v} for k, v in cfenv.unbound_services(app).items()]
    env_from: list[Obj] = []
    if app.env:
        env_from.append({"configMapRef": {"name": f"{app.name}-env"}})
    if app.secret_env:
        env_from.append({"secretRef": {"name": f"{app.name}-secrets"}})
    if app.services:
        env_from.append({"secretRef": {"name": f"{app.name}-bindings"}})
    memory = task.memory_mb or app.memory_mb
    resources: Obj = {"requests": {"cpu": "100m"}}
    if memory:
        resources["requests"]["memory"] = f"{memory}Mi"
        resources["limits"] = {"memory": f"{memory}Mi"}
    # A root image's entrypoint runs as the Deployment's would (rollout.for_root_image): only no
    # privilege escalation stays.
    keep = ("allowPrivilegeEscalation",) if root_image else tuple(CONTAINER_SECURITY)
    security = {k: v for k, v in CONTAINER_SECURITY.items() if k in keep}
    container: Obj = {
        "name": TASK_CONTAINER,
        "image": image,
        "imagePullPolicy": "IfNotPresent",
        "command": ["/bin/sh", "-c", task.command],
        "env": env,
        "resources": resources,
        "securityContext": security,
    }
    if env_from:
        container["envFrom"] = env_from
    pod_security = {k: v for k, v in POD_SECURITY.items() if not (root_image and k == "runAsNonRoot")}
    labels = task_labels(project, app.name, task.name)
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "spec": {
            "backoffLimit": 0,  # a task runs once, as in cf: a failure is its answer
            "ttlSecondsAfterFinished": TTL_S,
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "restartPolicy": "Never",
                    "enableServiceLinks": False,
                    "securityContext": pod_security,
                    "terminationGracePeriodSeconds": 10,
                    "containers": [container],
                },
            },
        },
    }


class TaskPod(NamedTuple):
    """Where a task's pod is: `waiting` (not started), `running`, `done` (with its exit code), or
    `stalled` (with why: it will never start)."""

    phase: str
    exit_code: int | None = None
    reason: str = ""


def task_pod(pod: Obj) -> TaskPod:
    """The task container's state in its pod, from the pod's status."""
    status = pod.get("status") or {}
    found = [c for c in status.get("containerStatuses") or [] if c.get("name") == TASK_CONTAINER]
    state = (found[0].get("state") if found else None) or {}
    if "terminated" in state:
        return TaskPod("done", int(state["terminated"].get("exitCode", 1)))
    if "running" in state:
        return TaskPod("running")
    waiting = state.get("waiting") or {}
    reason = str(waiting.get("reason", ""))
    if reason in STALLED:
        message = re.sub(r"\s+", " ", str(waiting.get("message", "")))[:300]
        return TaskPod("stalled", reason=f"{STALLED[reason]} ({reason}{': ' + message if message else ''})")
    if status.get("phase") == "Failed":  # evicted, or its deadline passed before it ran
        return TaskPod("stalled", reason=str(status.get("message") or status.get("reason") or "failed"))
    return TaskPod("waiting")
