"""The fake API server's Job controller, its TTL-after-finished controller and the server's own
fields of a new Job, as kube-apiserver and kube-controller-manager (v1.31) have them.

- Create: a Job without `manualSelector: true` gets a generated selector on its uid
  (`batch.kubernetes.io/controller-uid`) and its template the labels pods are selected by
  (`batch.kubernetes.io/job-name`, `job-name`, `controller-uid`, ...); defaults `completions: 1`,
  `parallelism: 1`, `backoffLimit: 6`, `completionMode: NonIndexed`, `suspend: false`.
- Controller: one pod at a time (`<job>-<5 safe characters>`, owned by the Job); a pod that
  Succeeded completes the Job (SuccessCriteriaMet, then Complete), more failed pods than
  `backoffLimit` fail it (FailureTarget, then Failed: BackoffLimitExceeded); `status.active`,
  `succeeded`, `failed`, `startTime`, `completionTime` as the controller keeps them.
- TTL: a finished Job with `ttlSecondsAfterFinished` is deleted that long after it finished
  (in real seconds), its pods with it (Background).
- Delete: the API's default propagation for batch/v1 Jobs is Orphan (the pods stay, without
  their owner); `propagationPolicy=Background` or `Foreground` takes them too.

Not modelled: parallelism above 1, Indexed completion, podFailurePolicy, successPolicy,
suspend, activeDeadlineSeconds, pod replacement while a failed pod terminates.
"""

from __future__ import annotations

import asyncio
import copy
import secrets
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tests.fakes.kubeapi import FakeKubernetes

Obj = dict[str, Any]
UID_LABEL = "batch.kubernetes.io/controller-uid"
NAME_LABEL = "batch.kubernetes.io/job-name"


def generated_selector(job: Obj) -> Obj:
    return {"matchLabels": {UID_LABEL: job["metadata"]["uid"]}}


def on_create(job: Obj) -> None:
    """The fields the API server sets on a new Job before validating it."""
    spec = job.setdefault("spec", {})
    for key, value in (("completions", 1), ("parallelism", 1), ("backoffLimit", 6),
                       ("completionMode", "NonIndexed"), ("suspend", False)):  # fmt: skip
        spec.setdefault(key, value)
    if spec.get("manualSelector") is True:
        return
    uid, name = job["metadata"]["uid"], job["metadata"]["name"]
    spec.setdefault("selector", generated_selector(job))
    meta = spec.setdefault("template", {}).setdefault("metadata", {})
    meta["labels"] = {**(meta.get("labels") or {}), UID_LABEL: uid, NAME_LABEL: name,
                      "controller-uid": uid, "job-name": name}  # fmt: skip


def pods_of(fake: FakeKubernetes, job: Obj) -> list[Obj]:
    uid = job["metadata"]["uid"]
    return [
        p for _v, p in fake.items("pods", job["metadata"].get("namespace"))
        if any(r.get("uid") == uid for r in p["metadata"].get("ownerReferences") or [])
    ]  # fmt: skip


def finished(job: Obj) -> bool:
    conditions = (job.get("status") or {}).get("conditions") or []
    return any(c.get("type") in ("Complete", "Failed") and c.get("status") == "True" for c in conditions)


def _condition(kind: str, reason: str, message: str) -> Obj:
    return {"type": kind, "status": "True", "reason": reason, "message": message,
            "lastProbeTime": _now(), "lastTransitionTime": _now()}  # fmt: skip


def _now() -> str:
    from tests.fakes.kubeapi import now

    return now()


def reconcile(fake: FakeKubernetes, job: Obj) -> None:
    """One pass of the Job controller (and the TTL controller) over `job`."""
    ns, name = job["metadata"].get("namespace"), job["metadata"]["name"]
    job = fake.fetch("batch/v1", "jobs", ns, name) or job
    key = f"{ns}/{name}"
    loop_now = asyncio.get_running_loop().time()
    if finished(job):
        ttl = job["spec"].get("ttlSecondsAfterFinished")
        done_at = fake.jobs_finished.setdefault(key, loop_now)
        if ttl is not None and loop_now - done_at >= float(ttl):
            fake.jobs_finished.pop(key, None)
            fake.delete_object("batch/v1", "jobs", job, propagation="Background")
        return
    pods = pods_of(fake, job)
    phases = [(p.get("status") or {}).get("phase") for p in pods]
    succeeded, failed = phases.count("Succeeded"), phases.count("Failed")
    active = [p for p, phase in zip(pods, phases, strict=True)
              if phase not in ("Succeeded", "Failed") and not p["metadata"].get("deletionTimestamp")]  # fmt: skip
    status: Obj = {**(job.get("status") or {}), "startTime": (job.get("status") or {}).get("startTime") or _now()}
    if active:
        pass  # the pod runs: nothing to decide yet
    elif succeeded >= int(job["spec"].get("completions", 1)):
        status["conditions"] = [
            _condition("SuccessCriteriaMet", "CompletionsReached", "Reached expected number of succeeded pods"),
            _condition("Complete", "CompletionsReached", "Reached expected number of succeeded pods"),
        ]
        status["completionTime"] = _now()
    elif failed > int(job["spec"].get("backoffLimit", 6)):
        status["conditions"] = [
            _condition("FailureTarget", "BackoffLimitExceeded", "Job has reached the specified backoff limit"),
            _condition("Failed", "BackoffLimitExceeded", "Job has reached the specified backoff limit"),
        ]
    running = len(active)
    if "conditions" not in status and not active:
        create_pod(fake, job)
        running = 1
    status.update({"active": 0 if finished({"status": status}) else running,
                   "ready": 0, "terminating": 0, "uncountedTerminatedPods": {}})  # fmt: skip
    for field, count in (("succeeded", succeeded), ("failed", failed)):
        if count:
            status[field] = count
    if not status["active"]:
        status.pop("active")
    if job.get("status") != status:
        job["status"] = status
        fake.store("batch/v1", "jobs", job, "MODIFIED")


def create_pod(fake: FakeKubernetes, job: Obj) -> None:
    from tests.fakes.kubeapi import SAFE_ALPHABET

    template = copy.deepcopy(job["spec"]["template"])
    meta = template.get("metadata") or {}
    suffix = "".join(secrets.choice(SAFE_ALPHABET) for _ in range(5))
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            **meta, "name": f"{job['metadata']['name']}-{suffix}", "namespace": job["metadata"].get("namespace"),
            "labels": dict(meta.get("labels") or {}), "uid": secrets.token_hex(16), "creationTimestamp": _now(),
            "ownerReferences": [{"apiVersion": "batch/v1", "kind": "Job", "name": job["metadata"]["name"],
                                 "uid": job["metadata"]["uid"], "controller": True, "blockOwnerDeletion": True}],
        },
        "spec": dict(template["spec"]),
        "status": {"phase": "Pending"},
    }  # fmt: skip
    fake.store("v1", "pods", pod, "ADDED")


def on_delete(fake: FakeKubernetes, job: Obj, propagation: str | None) -> None:
    """The garbage collector after a Job's deletion: its pods go (Background, Foreground) or stay
    without their owner (Orphan, the API's default for batch/v1 Jobs)."""
    for pod in pods_of(fake, job):
        if propagation in ("Background", "Foreground"):
            fake.begin_termination(pod)
        else:
            current = fake.fetch("v1", "pods", pod["metadata"].get("namespace"), pod["metadata"]["name"])
            if current is not None:
                current["metadata"].pop("ownerReferences", None)
                fake.store("v1", "pods", current, "MODIFIED")
