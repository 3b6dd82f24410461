"""The Kubernetes API's wire shapes, pure: REST names and scopes of the kinds devloop writes, the
group versions it writes them in, version numbers, exec's final Status, a Secret's apply body.

Kept apart from the client (adapters/kube.py) so they are read and tested without a session."""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx

Obj = dict[str, Any]

# The kinds devloop writes, and their REST names; other kinds (a user's YAML) are looked up in the
# server's discovery documents (`GET /apis/GROUP/VERSION`), as kubectl does.
RESOURCES: dict[str, tuple[str, bool]] = {  # kind -> (plural, namespaced)
    "Namespace": ("namespaces", False),
    "ConfigMap": ("configmaps", True),
    "Secret": ("secrets", True),
    "Service": ("services", True),
    "Pod": ("pods", True),
    "Deployment": ("deployments", True),
    "StatefulSet": ("statefulsets", True),
    "Ingress": ("ingresses", True),
    "PodDisruptionBudget": ("poddisruptionbudgets", True),
    "HorizontalPodAutoscaler": ("horizontalpodautoscalers", True),
    "ServiceAccount": ("serviceaccounts", True),
    "PersistentVolumeClaim": ("persistentvolumeclaims", True),
    "Job": ("jobs", True),
    "CronJob": ("cronjobs", True),
    "NetworkPolicy": ("networkpolicies", True),
}


def plural(kind: str) -> tuple[str, bool]:
    """The REST name and scope of one of the kinds devloop writes itself."""
    return RESOURCES[kind]


def object_url(
    obj: Obj, namespace: str | None, resource: tuple[str, bool] | None = None
) -> tuple[str, str | None, str]:
    """(apiVersion, namespace or None, "plural/name") for kr8s's call_api; `resource` (plural,
    namespaced) as discovery gave it for a kind devloop does not know."""
    name_plural, namespaced = resource or plural(obj["kind"])
    meta = obj.get("metadata") or {}
    ns = (meta.get("namespace") or namespace) if namespaced else None
    return obj["apiVersion"], ns, f"{name_plural}/{meta['name']}"


# The group versions devloop itself writes its kinds in (any other goes through discovery).
KNOWN_VERSIONS: dict[str, tuple[str, ...]] = {
    "Namespace": ("v1",), "ConfigMap": ("v1",), "Secret": ("v1",), "Service": ("v1",), "Pod": ("v1",),
    "Deployment": ("apps/v1",), "StatefulSet": ("apps/v1",), "Ingress": ("networking.k8s.io/v1",),
    "PodDisruptionBudget": ("policy/v1",), "HorizontalPodAutoscaler": ("autoscaling/v2", "autoscaling/v1"),
    "ServiceAccount": ("v1",), "PersistentVolumeClaim": ("v1",), "Job": ("batch/v1",),
    "CronJob": ("batch/v1",), "NetworkPolicy": ("networking.k8s.io/v1",),
}  # fmt: skip


def version_tuple(info: Obj) -> tuple[int, int]:
    major = "".join(c for c in str(info.get("major", "0")) if c.isdigit()) or "0"
    minor = "".join(c for c in str(info.get("minor", "0")) if c.isdigit()) or "0"
    return int(major), int(minor)


def as_data(obj: Obj) -> Obj:
    """A Secret's `stringData` as base64 `data`: under server-side apply a key applied as
    `stringData` is stored in `data` but owned as `stringData`, so leaving it out later never
    removes it (kubernetes/kubernetes#108008); keys applied as `data` are pruned as they should be."""
    if obj.get("kind") != "Secret" or "stringData" not in obj:
        return dict(obj)
    body = {k: v for k, v in obj.items() if k != "stringData"}
    data = dict(obj.get("data") or {})
    for key, value in (obj.get("stringData") or {}).items():
        data[key] = base64.b64encode(str(value).encode()).decode()
    body["data"] = data
    return body


def exit_code(status_json: bytes) -> int:
    """The exit code in the exec protocol's final Status (channel 3)."""
    if not status_json:
        return 0
    status = json.loads(status_json)
    if status.get("status") == "Success":
        return 0
    for cause in (status.get("details") or {}).get("causes") or []:
        if cause.get("reason") == "ExitCode":
            return int(cause.get("message", 1))
    return 1


def failure_message(status_json: bytes) -> str | None:
    """Why an exec failed when the command never ran (a missing `tar` or `/bin/sh`): the final
    Status's message, which then comes with no exit code and nothing on stderr; None otherwise."""
    if not status_json:
        return None
    try:
        status = json.loads(status_json)
    except ValueError:
        return None
    if status.get("status") == "Success" or status.get("reason") == "NonZeroExitCode":
        return None
    return str(status.get("message") or status.get("reason") or "the exec failed")


def failure_text(what: str, response: httpx.Response) -> str:
    """One line for a refused request: what was asked, the status and the server's message."""
    try:
        message = response.json().get("message") or response.text
    except ValueError:
        message = response.text
    return f"{what}: the API server answered {response.status_code}: {str(message)[:300]}"
