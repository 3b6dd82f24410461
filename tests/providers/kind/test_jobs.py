"""A task as a Job (pure): its shape against the Kubernetes schema, and what its pod's status says."""

from __future__ import annotations

import json
from pathlib import Path

import kubernetes_validate
import pytest

from devloop.core.spec import AppSpec, TaskSpec
from devloop.providers.kind.jobs import JOB_NAME_MAX, TaskPod, job_name, job_object, task_pod, tasks_selector
from tests.fakes import kubestrict

APP = AppSpec("web", Path("/app"), memory_mb=256, env=(("GREETING", "hi"),),
              secret_env=(("TOKEN", "t0ken-value"),), services=("db",))  # fmt: skip
TASK = TaskSpec("migrate", "python migrate.py")


def job(**options: object) -> dict[str, object]:
    return job_object(APP, "localhost:5001/devloop/web:abc", TASK, name="web-migrate-1a2b3c",
                      project="proj-1234", namespace="dl-proj", router_port=8080, **options)  # type: ignore[arg-type]  # fmt: skip


def test_the_job_is_valid_runs_once_and_reads_the_apps_env_secret_and_bindings() -> None:
    obj = job()
    kubernetes_validate.validate(obj, kubestrict.SCHEMA_VERSION, strict=True)
    spec = obj["spec"]
    assert spec["backoffLimit"] == 0 and spec["ttlSecondsAfterFinished"] > 0  # type: ignore[index]
    pod = spec["template"]["spec"]  # type: ignore[index]
    assert pod["restartPolicy"] == "Never" and "selector" not in spec  # type: ignore[operator]
    (container,) = pod["containers"]
    assert container["command"] == ["/bin/sh", "-c", "python migrate.py"]
    assert container["envFrom"] == [{"configMapRef": {"name": "web-env"}}, {"secretRef": {"name": "web-secrets"}},
                                    {"secretRef": {"name": "web-bindings"}}]  # fmt: skip
    names = [e["name"] for e in container["env"]]
    assert "VCAP_APPLICATION" in names and "VCAP_SERVICES" not in names  # it comes with the bindings
    assert "t0ken-value" not in json.dumps(obj)  # secret values stay in the Secret
    assert container["resources"]["limits"] == {"memory": "256Mi"}
    assert container["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsNonRoot"]
    labels = obj["metadata"]["labels"]  # type: ignore[index]
    assert "app.kubernetes.io/name" not in labels  # no instance: the instance watch never counts it
    assert labels["devloop.dev/task"] == "migrate" and labels["devloop.dev/task-app"] == "web"
    assert spec["template"]["metadata"]["labels"] == labels  # type: ignore[index]
    kubestrict.check_semantics({**obj, "spec": {**spec, "selector": {"matchLabels": {  # type: ignore[dict-item]
        "batch.kubernetes.io/controller-uid": "u"}}}}, None)  # as the API server generates it  # fmt: skip


def test_a_root_image_runs_as_its_deployment_would() -> None:
    container = job(root_image=True)["spec"]["template"]["spec"]["containers"][0]  # type: ignore[index]
    assert container["securityContext"] == {"allowPrivilegeEscalation": False}
    pod = job(root_image=True)["spec"]["template"]["spec"]  # type: ignore[index]
    assert "runAsNonRoot" not in pod["securityContext"]


def test_job_names_fit_a_label_value_with_the_pods_suffix() -> None:
    name = job_name("a" * 50, "b" * 40, "1a2b3c")
    assert len(name) <= JOB_NAME_MAX and name.endswith("-1a2b3c") and not name[:-7].endswith("-")
    assert job_name("web", "migrate", "1a2b3c") == "web-migrate-1a2b3c"
    assert tasks_selector("proj") == "devloop.dev/project=proj,devloop.dev/task"


def status(state: dict[str, object], phase: str = "Running", name: str = "task") -> dict[str, object]:
    return {"status": {"phase": phase, "containerStatuses": [{"name": name, "state": state}]}}


@pytest.mark.parametrize(
    ("pod", "expected"),
    [
        ({"status": {"phase": "Pending"}}, TaskPod("waiting")),
        (status({"waiting": {"reason": "ContainerCreating"}}, "Pending"), TaskPod("waiting")),
        (status({"running": {"startedAt": "x"}}), TaskPod("running")),
        (status({"terminated": {"exitCode": 0}}, "Succeeded"), TaskPod("done", 0)),
        (status({"terminated": {"exitCode": 3}}, "Failed"), TaskPod("done", 3)),
        (status({"waiting": {"reason": "ErrImagePull", "message": "not  found"}}, "Pending"),
         TaskPod("stalled", reason="cannot pull its image (ErrImagePull: not found)")),
        ({"status": {"phase": "Failed", "message": "The node was low on resource: memory."}},
         TaskPod("stalled", reason="The node was low on resource: memory.")),
    ],
)  # fmt: skip
def test_what_the_pod_says_about_the_task(pod: dict[str, object], expected: TaskPod) -> None:
    assert task_pod(pod) == expected
