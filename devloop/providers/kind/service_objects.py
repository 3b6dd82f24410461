"""Kubernetes objects for backing services and for apps' bindings to them: pure, no I/O.

A service is a StatefulSet of one (its data on a PersistentVolumeClaim), a Service
named after it (apps reach `db:5432` as on the docker provider), and a Secret with
its password. An app's binding is a Secret holding VCAP_SERVICES and the
conventional URL variables, read by the app's containers through `envFrom`.
"""

from __future__ import annotations

from typing import Any

from devloop.core.names import dns_label
from devloop.core.services import ServiceSpec, binding_env, credentials_for

Obj = dict[str, Any]
PRODUCTION_NOTE = (
    "# A local stand-in for a backing service. In production, use a managed service (a cloud\n"
    "# database, cache or broker) and put its credentials in the apps' binding Secrets instead.\n"
)
DATA_SIZE = "1Gi"


def service_labels(service: ServiceSpec, project: str) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": service.name,
        "app.kubernetes.io/component": "backing-service",
        "app.kubernetes.io/part-of": project,
        "app.kubernetes.io/managed-by": "devloop",
    }


def _meta(name: str, labels: dict[str, str], namespace: str | None) -> Obj:
    meta: Obj = {"name": name, "labels": labels}
    if namespace:
        meta["namespace"] = namespace
    return meta


def service_claims_selector(project: str) -> str:
    """The label selector of a project's services' volume claims (the labels of their claim templates)."""
    return (
        "app.kubernetes.io/component=backing-service,app.kubernetes.io/managed-by=devloop,"
        f"app.kubernetes.io/part-of={project}"
    )


def service_objects(
    service: ServiceSpec, password: str, project: str, namespace: str | None = None
) -> list[Obj]:
    """Secret, Service and StatefulSet for one backing service."""
    kind = service.type
    labels = service_labels(service, project)
    secret = f"{service.name}-credentials"
    # The password reaches the container only through the Secret; redis takes it as an
    # argument, which Kubernetes fills in from the variable ($(REDISCLI_AUTH)).
    args = kind.command("$(REDISCLI_AUTH)")
    container: Obj = {
        "name": service.name,
        "image": service.image,
        "ports": [{"name": kind.scheme[:15], "containerPort": kind.port}],
        "envFrom": [{"secretRef": {"name": secret}}],
        "volumeMounts": [{"name": "data", "mountPath": kind.data_path}],
        "readinessProbe": {
            "exec": {"command": list(kind.ready_command)},
            "periodSeconds": 5,
            "timeoutSeconds": 5,
        },
        "resources": {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"memory": "512Mi"}},
        "securityContext": {"allowPrivilegeEscalation": False},
    }
    if args is not None:
        container["args"] = args
    return [
        {"apiVersion": "v1", "kind": "Secret", "type": "Opaque", "metadata": _meta(secret, labels, namespace),
         "stringData": kind.environment(password, service.database)},
        {"apiVersion": "v1", "kind": "Service", "metadata": _meta(dns_label(service.name), labels, namespace),
         "spec": {"selector": {"app.kubernetes.io/name": service.name},
                  "ports": [{"name": kind.scheme[:15], "port": kind.port, "targetPort": kind.port}]}},
        {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": _meta(service.name, labels, namespace),
         "spec": {
             "serviceName": dns_label(service.name), "replicas": 1,
             "selector": {"matchLabels": {"app.kubernetes.io/name": service.name}},
             "template": {"metadata": {"labels": labels},
                          "spec": {"enableServiceLinks": False, "containers": [container]}},
             "volumeClaimTemplates": [{
                 "metadata": {"name": "data", "labels": labels},
                 "spec": {"accessModes": ["ReadWriteOnce"],
                          "resources": {"requests": {"storage": DATA_SIZE}}},
             }],
         }},
    ]  # fmt: skip


def binding_secret(
    app: str, bound: list[ServiceSpec], passwords: dict[str, str], project: str, namespace: str | None = None
) -> Obj:
    """The Secret an app's containers read VCAP_SERVICES and DATABASE_URL/... from."""
    # Apps reach a service by its Service's name, which is a DNS-1035 label (`1db` -> `app-1db`).
    env = binding_env([(s, credentials_for(s, passwords[s.name], dns_label(s.name))) for s in bound])
    labels = {"app.kubernetes.io/name": app, "app.kubernetes.io/part-of": project,
              "app.kubernetes.io/managed-by": "devloop"}  # fmt: skip
    return {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
            "metadata": _meta(f"{app}-bindings", labels, namespace), "stringData": env}  # fmt: skip


def read_bindings(objects: list[Obj], app: str) -> list[Obj]:
    """The app's Deployments with their containers reading the binding Secret."""
    for obj in objects:
        if obj["kind"] != "Deployment":
            continue
        for container in obj["spec"]["template"]["spec"]["containers"]:
            container.setdefault("envFrom", []).append({"secretRef": {"name": f"{app}-bindings"}})
    return objects


def is_backing_service(obj: Obj) -> bool:
    labels = (obj.get("metadata") or {}).get("labels") or {}
    return labels.get("app.kubernetes.io/component") == "backing-service"
