"""Generated Kubernetes objects: valid against the 1.37 schema (strict) and good practice."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import kubernetes_validate
import pytest

from devloop.core.spec import AppSpec, HealthCheck, HealthCheckType, ProcessSpec, SidecarSpec
from devloop.providers.kind.objects import SECRET_PLACEHOLDER, app_objects

K8S_VERSION = "1.37.0"
SRC = Path("/src")

SHAPES = {
    "http-3-instances": AppSpec("web", SRC, instances=3, memory_mb=256, health=HealthCheck(HealthCheckType.HTTP, "/health")),
    "port-1-instance": AppSpec("api", SRC, env=(("A", "1"),), secret_env=(("TOKEN", "s3cr3t"),)),
    "process-worker-no-route": AppSpec("worker", SRC, no_route=True, command="python worker.py",
                                       health=HealthCheck(HealthCheckType.PROCESS)),
    "cf-processes-and-sidecars": AppSpec(
        "shop", SRC, routes=("shop.example.com/api",), instances=2,
        processes=(ProcessSpec("worker", "python w.py", 2, 128),),
        sidecars=(SidecarSpec("proxy", "./proxy", ("web", "worker"), 32),),
    ),
}  # fmt: skip


@pytest.mark.parametrize("shape", list(SHAPES))
def test_every_object_passes_the_schema(shape: str) -> None:
    for obj in app_objects(SHAPES[shape], "devloop/x:abc", project="proj-1", namespace="dev"):
        kubernetes_validate.validate(obj, K8S_VERSION, strict=True)


def by_kind(objects: list[dict], kind: str) -> list[dict]:
    return [o for o in objects if o["kind"] == kind]


def test_probes_resources_and_security() -> None:
    objects = app_objects(SHAPES["http-3-instances"], "devloop/web:abc", project="p")
    (deployment,) = by_kind(objects, "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["readinessProbe"]["httpGet"] == {"path": "/health", "port": 8080}
    assert container["startupProbe"]["failureThreshold"] == 60  # cf's default 60 s start timeout
    assert (
        container["resources"]["limits"] == {"memory": "256Mi"}
        and container["resources"]["requests"]["memory"] == "256Mi"
    )
    assert container["imagePullPolicy"] == "IfNotPresent" and container["image"] == "devloop/web:abc"
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert deployment["spec"]["replicas"] == 3


def test_port_check_is_a_tcp_probe_and_process_has_none() -> None:
    (api,) = by_kind(app_objects(SHAPES["port-1-instance"], "i", project="p"), "Deployment")
    assert api["spec"]["template"]["spec"]["containers"][0]["livenessProbe"]["tcpSocket"] == {"port": 8080}
    (worker,) = by_kind(app_objects(SHAPES["process-worker-no-route"], "i", project="p"), "Deployment")
    container = worker["spec"]["template"]["spec"]["containers"][0]
    assert "livenessProbe" not in container and container["command"] == ["/bin/sh", "-c", "python worker.py"]


def test_pdb_with_more_than_one_instance_and_an_hpa_only_when_asked() -> None:
    many = app_objects(SHAPES["http-3-instances"], "i", project="p", autoscale=True)
    one = app_objects(SHAPES["port-1-instance"], "i", project="p", autoscale=True)
    assert by_kind(many, "PodDisruptionBudget") and by_kind(many, "HorizontalPodAutoscaler")
    assert by_kind(many, "HorizontalPodAutoscaler")[0]["spec"]["minReplicas"] == 3
    assert not by_kind(one, "PodDisruptionBudget") and not by_kind(one, "HorizontalPodAutoscaler")
    unasked = app_objects(SHAPES["http-3-instances"], "i", project="p")  # cf scales only when told
    assert by_kind(unasked, "PodDisruptionBudget") and not by_kind(unasked, "HorizontalPodAutoscaler")


def test_sidecar_memory_is_taken_out_of_the_processs_memory_as_in_cf() -> None:
    app = replace(SHAPES["http-3-instances"], memory_mb=256,
                  sidecars=(SidecarSpec("stats", "python stats.py", ("web",), 64),
                            SidecarSpec("tap", "python tap.py", ("web",))))  # fmt: skip
    (deployment,) = by_kind(app_objects(app, "i", project="p"), "Deployment")
    limits = {c["name"]: c["resources"].get("limits", {}).get("memory")
              for c in deployment["spec"]["template"]["spec"]["containers"]}  # fmt: skip
    assert limits == {app.name: "192Mi", "stats": "64Mi", "tap": None}


def test_no_route_means_no_service_or_ingress() -> None:
    objects = app_objects(SHAPES["process-worker-no-route"], "i", project="p")
    assert not by_kind(objects, "Service") and not by_kind(objects, "Ingress")


def test_routes_become_ingress_hosts_and_default_is_app_localhost() -> None:
    (shop,) = by_kind(app_objects(SHAPES["cf-processes-and-sidecars"], "i", project="p"), "Ingress")
    assert [r["host"] for r in shop["spec"]["rules"]] == ["shop.example.com"]
    (web,) = by_kind(app_objects(SHAPES["http-3-instances"], "i", project="p"), "Ingress")
    assert [r["host"] for r in web["spec"]["rules"]] == ["web.localhost"]


def test_env_in_configmap_and_secrets_as_placeholders_unless_applied() -> None:
    exported = app_objects(SHAPES["port-1-instance"], "i", project="p")
    (config,) = by_kind(exported, "ConfigMap")
    (secret,) = by_kind(exported, "Secret")
    assert config["data"] == {"A": "1"}
    assert secret["stringData"] == {"TOKEN": SECRET_PLACEHOLDER}
    assert "s3cr3t" not in repr(exported)
    applied = app_objects(SHAPES["port-1-instance"], "i", project="p", secret_values=True)
    assert by_kind(applied, "Secret")[0]["stringData"] == {"TOKEN": "s3cr3t"}


def test_process_types_and_sidecars() -> None:
    objects = app_objects(SHAPES["cf-processes-and-sidecars"], "i", project="p")
    names = {d["metadata"]["name"]: d for d in by_kind(objects, "Deployment")}
    assert set(names) == {"shop", "shop-worker"}
    worker_containers = [c["name"] for c in names["shop-worker"]["spec"]["template"]["spec"]["containers"]]
    web_containers = [c["name"] for c in names["shop"]["spec"]["template"]["spec"]["containers"]]
    assert worker_containers == ["worker", "proxy"] and web_containers == ["shop", "proxy"]
    assert names["shop-worker"]["spec"]["replicas"] == 2


def test_readiness_is_checked_every_second_in_the_dev_loop_and_calmly_in_export() -> None:
    from devloop.providers.kind.objects import PROBE_PERIOD_S

    def readiness_periods(local: bool) -> list[int]:
        objects = app_objects(SHAPES["http-3-instances"], "devloop/web:1", project="p", local=local)
        return [c["readinessProbe"]["periodSeconds"] for o in objects if o["kind"] == "Deployment"
                for c in o["spec"]["template"]["spec"]["containers"] if "readinessProbe" in c]  # fmt: skip

    assert readiness_periods(local=True) and set(readiness_periods(local=True)) == {1}
    assert set(readiness_periods(local=False)) == {PROBE_PERIOD_S}
