"""AppSpec -> Kubernetes objects, as devloop would apply them and `devloop export` writes them.

Good practice by default: probes from the cf health check (startup, readiness,
liveness), memory requests = limits from the cf memory, plain env in a
ConfigMap and secret env in a Secret, a Service and an Ingress for routed apps,
a PodDisruptionBudget and a HorizontalPodAutoscaler when an app runs more than
one instance, and a non-root, no-privilege-escalation security context.
Pure: no I/O, so it is tested against the Kubernetes schema without a cluster.
"""

from __future__ import annotations

import re
from typing import Any

from devloop.core import cfenv
from devloop.core.names import dns_label
from devloop.core.processes import WEB, main_memory_mb, process_name, process_view, sidecars_of
from devloop.core.spec import DEFAULT_ROUTER_PORT, AppSpec, HealthCheck, HealthCheckType, ProcessSpec

Obj = dict[str, Any]
MANAGED_BY = "devloop"
SECRET_PLACEHOLDER = "REPLACE-ME"  # export never writes real secret values
PROBE_PERIOD_S = 5
DEV_READINESS_PERIOD_S = 1  # `devloop up` only: see _check_readiness_every_second


def labels(app: str, project: str, process: str = "web") -> dict[str, str]:
    return {
        "app.kubernetes.io/name": app,
        "app.kubernetes.io/component": process,
        "app.kubernetes.io/managed-by": MANAGED_BY,
        "devloop.dev/project": label_value(project),
    }


def label_value(value: str) -> str:
    cleaned = re.sub(r"[^A-Za-z0-9_.-]", "-", value)[:63].strip("-_.")
    return cleaned or "project"


def _meta(name: str, lbls: dict[str, str], namespace: str | None) -> Obj:
    meta: Obj = {"name": name, "labels": dict(lbls)}
    if namespace:
        meta["namespace"] = namespace
    return meta


def _probe(health: HealthCheck, port: int) -> Obj | None:
    if health.type is HealthCheckType.HTTP:
        return {"httpGet": {"path": health.endpoint, "port": port}}
    if health.type is HealthCheckType.PORT:
        return {"tcpSocket": {"port": port}}
    return None  # `process`: the kubelet restarts a container whose process exits


def _probes(health: HealthCheck, port: int) -> Obj:
    action = _probe(health, port)
    if action is None:
        return {}
    timeout = health.invocation_timeout_s
    return {
        # cf's `timeout`: how long the app may take to start.
        "startupProbe": {
            **action,
            "periodSeconds": 1,
            "failureThreshold": max(1, health.timeout_s),
            "timeoutSeconds": timeout,
        },
        "readinessProbe": {**action, "periodSeconds": PROBE_PERIOD_S, "timeoutSeconds": timeout},
        "livenessProbe": {
            **action,
            "periodSeconds": PROBE_PERIOD_S * 2,
            "timeoutSeconds": timeout,
            "failureThreshold": 3,
        },
    }


def _resources(memory_mb: int | None) -> Obj:
    requests: Obj = {"cpu": "100m"}
    limits: Obj = {}
    if memory_mb:
        requests["memory"] = limits["memory"] = f"{memory_mb}Mi"
    return {"requests": requests, **({"limits": limits} if limits else {})}


CONTAINER_SECURITY: Obj = {
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
    "runAsNonRoot": True,
}
POD_SECURITY: Obj = {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}


def _check_readiness_every_second(deployment: Obj) -> None:
    """In the dev loop a new instance joins the router a second after it is ready, not up to
    PROBE_PERIOD_S later; exported files keep the calmer period a shared cluster wants."""
    for container in deployment["spec"]["template"]["spec"]["containers"]:
        if "readinessProbe" in container:
            container["readinessProbe"]["periodSeconds"] = DEV_READINESS_PERIOD_S


def _container(app: AppSpec, name: str, image: str, command: str | None, memory_mb: int | None,
               health: HealthCheck | None, port: int | None) -> Obj:  # fmt: skip
    container: Obj = {
        "name": name,
        "image": image,
        "imagePullPolicy": "IfNotPresent",  # content tags never change under the same name
        "securityContext": dict(CONTAINER_SECURITY),
        "resources": _resources(memory_mb),
    }
    if command:
        container["command"] = ["/bin/sh", "-c", command]
    env_from: list[Obj] = []
    if app.env:
        env_from.append({"configMapRef": {"name": f"{app.name}-env"}})
    if app.secret_env:
        env_from.append({"secretRef": {"name": f"{app.name}-secrets"}})
    if env_from:
        container["envFrom"] = env_from
    if port is not None:
        container["env"] = [{"name": "PORT", "value": str(port)}]
        container["ports"] = [{"name": "http", "containerPort": port}]
        if health is not None:
            container.update(_probes(health, port))
    return container


def _deployment(app: AppSpec, name: str, process: str, image: str, replicas: int, pod_containers: list[Obj],
                project: str, namespace: str | None) -> Obj:  # fmt: skip
    lbls = labels(app.name, project, process)
    selector = {k: lbls[k] for k in ("app.kubernetes.io/name", "app.kubernetes.io/component")}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _meta(name, lbls, namespace),
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": selector},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
            "template": {
                "metadata": {"labels": lbls},
                "spec": {
                    # No service-link variables: a Service named `redis` would give every pod
                    # REDIS_PORT=tcp://..., which apps reading REDIS_PORT take for a port number.
                    "enableServiceLinks": False,
                    "securityContext": dict(POD_SECURITY),
                    "terminationGracePeriodSeconds": 10,  # cf gives an app 10 s to stop
                    "containers": pod_containers,
                },
            },
        },
    }


def _sidecars(app: AppSpec, process: str, image: str) -> list[Obj]:
    return [
        _container(app, s.name, image, s.command, s.memory_mb, None, None)
        for s in app.sidecars
        if process in s.process_types
    ]


def hosts(app: AppSpec) -> list[str]:
    """Ingress hosts: the app's routes (host part), else APP.localhost."""
    return list(dict.fromkeys(host for host, _ in ingress_rules(app)))


_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def ingress_rules(app: AppSpec) -> list[tuple[str, str]]:
    """(host, path prefix) of each HTTP route the Ingress serves, else (APP.localhost, /).

    Hosts are lower case and DNS-valid (a route that is not is left out), paths kept;
    routes with a port are TCP routes, which an Ingress does not carry."""
    rules: list[tuple[str, str]] = []
    for route in app.routes:
        host_port, slash, path = route.split("://", 1)[-1].partition("/")
        host, _, port = host_port.partition(":")
        host = host.lower().rstrip(".")
        if port or not all(_DNS_LABEL.match(label) for label in host.split(".")):
            continue
        rule = (host, "/" + path.rstrip("/") if slash and path.strip("/") else "/")
        if rule not in rules:
            rules.append(rule)
    return rules or [(f"{app.name}.localhost", "/")]


def app_objects(
    app: AppSpec,
    image: str,
    *,
    project: str,
    namespace: str | None = None,
    secret_values: bool = False,
    autoscale: bool = False,
    local: bool = False,
    router_port: int = DEFAULT_ROUTER_PORT,
) -> list[Obj]:
    """Every object for one app. Secret values are placeholders unless `secret_values`.

    A HorizontalPodAutoscaler only with `autoscale` (`devloop export --autoscale`): cf scales
    an app only when asked (its App Autoscaler is a service one binds), so neither does export. `local`: the
    pods run behind devloop's router on `router_port` (see `_cf_env`).
    """
    objects: list[Obj] = []
    web_labels = labels(app.name, project)
    if app.env:
        objects.append({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": _meta(f"{app.name}-env", web_labels, namespace),
            "data": dict(app.env),
        })  # fmt: skip
    if app.secret_env:
        objects.append({
            "apiVersion": "v1", "kind": "Secret", "type": "Opaque",
            "metadata": _meta(f"{app.name}-secrets", web_labels, namespace),
            "stringData": {k: (v if secret_values else SECRET_PLACEHOLDER) for k, v in app.secret_env},
        })  # fmt: skip
    web_memory = main_memory_mb(app.memory_mb, sidecars_of(app, WEB))
    web = _container(app, app.name, image, app.command, web_memory, app.health, app.port)
    if app.disk_mb:  # cf's disk_quota: the instance's scratch space
        web["resources"].setdefault("limits", {})["ephemeral-storage"] = f"{app.disk_mb}Mi"
    objects.append(
        _deployment(
            app,
            app.name,
            "web",
            image,
            app.instances,
            [web, *_sidecars(app, "web", image)],
            project,
            namespace,
        )
    )
    for process in app.processes:
        if process.type == "web":
            continue
        objects.append(_process_deployment(app, process, image, project, namespace))
    for obj in objects:
        if obj["kind"] == "Deployment":
            _cf_env(app, obj, image, project, local, router_port)
            if local:
                _check_readiness_every_second(obj)
    routed = not app.no_route
    if routed:
        objects.append(_service(app, web_labels, namespace))
        objects.append(_ingress(app, web_labels, namespace))
    if app.instances > 1:
        objects.append(_pdb(app, web_labels, namespace))
        if autoscale:
            objects.append(_hpa(app, web_labels, namespace))
    return objects


def _cf_env(app: AppSpec, deployment: Obj, image: str, project: str, local: bool, router_port: int) -> None:
    """Each container of the Deployment gets the environment Cloud Foundry gives an instance
    (sidecars too, as in cf), ahead of any `env` entry it had.

    In the dev loop the URIs are the router's and `cf_api` a local name; in exported files the
    URIs are the routes the Ingress serves and there is no `cf_api`, which would point at
    nothing outside devloop.
    """
    process = deployment["metadata"]["labels"]["app.kubernetes.io/component"]
    view = process_view(app, process)
    if local:
        app_uris = cfenv.uris(view, router_port)
    elif process == WEB and not app.no_route:
        app_uris = [host + ("" if path == "/" else path) for host, path in ingress_rules(app)]
    else:
        app_uris = []
    env = cfenv.pod_env(
        view, project=project, process=process, image=image, app_uris=app_uris,
        cf_api=cfenv.CF_API if local else None,
    )  # fmt: skip
    env += [{"name": k, "value": v} for k, v in cfenv.unbound_services(view).items()]
    names = {e["name"] for e in env}
    for container in deployment["spec"]["template"]["spec"]["containers"]:
        container["env"] = [*env, *(e for e in container.get("env") or [] if e["name"] not in names)]


def _process_deployment(app: AppSpec, process: ProcessSpec, image: str, project: str,
                        namespace: str | None) -> Obj:  # fmt: skip
    name = process_name(app.name, process.type)
    memory = main_memory_mb(process.memory_mb or app.memory_mb, sidecars_of(app, process.type))
    main = _container(
        app, process.type, image, process.command, memory, None, None
    )
    return _deployment(app, name, process.type, image, process.instances,
                       [main, *_sidecars(app, process.type, image)], project, namespace)  # fmt: skip


def _web_pods(app: AppSpec) -> dict[str, str]:
    """The selector of an app's web pods (its Service, PDB and Deployment share it)."""
    return {"app.kubernetes.io/name": app.name, "app.kubernetes.io/component": "web"}


def service_name(app: str) -> str:
    """The app's Service: named after it, made a DNS-1035 label (`1web` -> `app-1web`)."""
    return dns_label(app)


def _service(app: AppSpec, lbls: dict[str, str], namespace: str | None) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _meta(service_name(app.name), lbls, namespace),
        "spec": {
            "selector": _web_pods(app),
            "ports": [{"name": "http", "port": 80, "targetPort": "http"}],
        },
    }


def _ingress(app: AppSpec, lbls: dict[str, str], namespace: str | None) -> Obj:
    by_host: dict[str, list[Obj]] = {}
    for host, path in ingress_rules(app):
        backend = {"service": {"name": service_name(app.name), "port": {"name": "http"}}}
        by_host.setdefault(host, []).append({"path": path, "pathType": "Prefix", "backend": backend})
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": _meta(app.name, lbls, namespace),
        "spec": {"rules": [{"host": host, "http": {"paths": paths}} for host, paths in by_host.items()]},
    }


def _pdb(app: AppSpec, lbls: dict[str, str], namespace: str | None) -> Obj:
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": _meta(app.name, lbls, namespace),
        "spec": {
            "maxUnavailable": 1,
            "selector": {"matchLabels": _web_pods(app)},
        },
    }


def _hpa(app: AppSpec, lbls: dict[str, str], namespace: str | None) -> Obj:
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": _meta(app.name, lbls, namespace),
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": app.name},
            "minReplicas": app.instances,
            "maxReplicas": app.instances * 3,
            "metrics": [{
                "type": "Resource",
                "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80}},
            }],
        },
    }  # fmt: skip
