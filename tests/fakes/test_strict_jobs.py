"""The fake API server's Jobs say no where a real one does, and its controllers answer as
kube-controller-manager's: generated selector, one pod, terminal status, Orphan by default."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import pytest

pytestmark = pytest.mark.docker  # the fake's kubelet talks to the local engine

NS = "team"
JOBS = f"/apis/batch/v1/namespaces/{NS}/jobs"


def apply(cluster: Any, url: str, obj: dict[str, Any]) -> httpx.Response:
    with cluster.client() as client:
        return client.patch(url, params={"fieldManager": "devloop", "force": "true"},  # type: ignore[no-any-return]
                            content=json.dumps(obj).encode(),
                            headers={"Content-Type": "application/apply-patch+yaml"})  # fmt: skip


def job(name: str = "once", restart: str | None = "Never", command: str = "exit 3", **spec: Any) -> dict[str, Any]:
    pod: dict[str, Any] = {"containers": [{"name": "task", "image": "busybox:1.36",
                                           "command": ["/bin/sh", "-c", command]}]}  # fmt: skip
    if restart is not None:
        pod["restartPolicy"] = restart
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name, "namespace": NS},
            "spec": {"backoffLimit": 0, "template": {"metadata": {"labels": {"t": name}}, "spec": pod}, **spec}}  # fmt: skip


@pytest.fixture
def cluster(fake_cluster: Any) -> Any:
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}}
    assert apply(fake_cluster, f"/api/v1/namespaces/{NS}", namespace).status_code == 201
    return fake_cluster


def get(cluster: Any, url: str) -> dict[str, Any]:
    with cluster.client() as client:
        return client.get(url).json()  # type: ignore[no-any-return]


def until(check: Any, what: str, timeout: float = 20) -> Any:
    deadline = time.monotonic() + timeout
    while (found := check()) is None:
        assert time.monotonic() < deadline, what
        time.sleep(0.05)
    return found


@pytest.mark.parametrize(("restart", "shown"), [(None, "Always"), ("Always", "Always")])
def test_a_job_pod_that_would_restart_always_is_invalid(cluster: Any, restart: str | None, shown: str) -> None:
    answer = apply(cluster, f"{JOBS}/once", job(restart=restart))
    assert answer.status_code == 422
    body = answer.json()
    assert body["message"] == ('Job.batch "once" is invalid: spec.template.spec.restartPolicy: Unsupported value: '
                               f'"{shown}": supported values: "OnFailure", "Never"')  # fmt: skip
    assert body["details"]["causes"][0]["reason"] == "FieldValueNotSupported"


def test_a_selector_without_manual_selector_is_invalid_and_the_template_is_immutable(cluster: Any) -> None:
    answer = apply(cluster, f"{JOBS}/once", job(selector={"matchLabels": {"t": "once"}}))
    assert answer.status_code == 422 and "`selector` not auto-generated" in answer.json()["message"]
    created = apply(cluster, f"{JOBS}/once", job(command="sleep 1"))
    assert created.status_code == 201
    uid = created.json()["metadata"]["uid"]
    assert created.json()["spec"]["selector"] == {"matchLabels": {"batch.kubernetes.io/controller-uid": uid}}
    labels = created.json()["spec"]["template"]["metadata"]["labels"]
    assert labels["batch.kubernetes.io/job-name"] == "once" and labels["job-name"] == "once"
    changed = apply(cluster, f"{JOBS}/once", job(command="exit 0"))
    assert changed.status_code == 422 and "spec.template: Invalid value" in changed.json()["message"]
    assert "field is immutable" in changed.json()["message"]


def test_the_controller_runs_one_pod_fails_the_job_and_deletes_orphan_by_default(cluster: Any) -> None:
    assert apply(cluster, f"{JOBS}/once", job()).status_code == 201

    def failed() -> dict[str, Any] | None:
        found = get(cluster, f"{JOBS}/once")
        types = [c["type"] for c in (found.get("status") or {}).get("conditions") or []]
        return found if "Failed" in types else None

    done = until(failed, "the Job failed")
    assert done["status"]["failed"] == 1 and "active" not in done["status"]
    assert [(c["type"], c["reason"]) for c in done["status"]["conditions"]] == [
        ("FailureTarget", "BackoffLimitExceeded"), ("Failed", "BackoffLimitExceeded")]
    pods = get(cluster, f"/api/v1/namespaces/{NS}/pods?labelSelector=job-name%3Donce")["items"]
    assert len(pods) == 1  # backoffLimit 0: never a second one
    (pod,) = pods
    assert pod["status"]["phase"] == "Failed"
    assert pod["status"]["containerStatuses"][0]["state"]["terminated"]["exitCode"] == 3
    assert pod["metadata"]["ownerReferences"][0]["kind"] == "Job"
    with cluster.client() as client:
        assert client.delete(f"{JOBS}/once").status_code == 200  # no propagationPolicy: Orphan
    kept = get(cluster, f"/api/v1/namespaces/{NS}/pods/{pod['metadata']['name']}")
    assert kept["kind"] == "Pod" and "ownerReferences" not in kept["metadata"]
