"""The Cloud Foundry env in generated pods: every container, the downward API, and what export leaves out."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest

from devloop.core import cfenv
from devloop.core.spec import AppSpec, ProcessSpec, SidecarSpec
from devloop.providers.kind.objects import app_objects
from tests.providers.kind.test_objects import K8S_VERSION

SHOP = AppSpec(
    "shop", Path("/src"), display_name="Shop", routes=("shop.example.com/api",), memory_mb=256,
    env=(("PORT", "9999"), ("GREETING", "hi")), secret_env=(("TOKEN", "s3cr3t"),),
    processes=(ProcessSpec("worker", "python w.py", 1, 128),),
    sidecars=(SidecarSpec("proxy", "./proxy", ("web", "worker"), 32),),
)  # fmt: skip


def containers(local: bool, router_port: int = 8080) -> dict[tuple[str, str], dict[str, Any]]:
    """(Deployment, container) -> container, for the shop app's objects."""
    objects = app_objects(SHOP, "devloop/shop:abc", project="proj-1", local=local, router_port=router_port,
                          secret_values=local)  # fmt: skip
    found = {}
    for obj in objects:
        kubernetes_validate.validate(obj, K8S_VERSION, strict=True)
        if obj["kind"] == "Deployment":
            for c in obj["spec"]["template"]["spec"]["containers"]:
                found[(obj["metadata"]["name"], c["name"])] = c
    return found


def env_of(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["name"]: e for e in container["env"]}


def vcap(container: dict[str, Any]) -> dict[str, Any]:
    value: dict[str, Any] = json.loads(env_of(container)["VCAP_APPLICATION"]["value"])
    return value


@pytest.mark.parametrize("local", [True, False])
def test_every_container_gets_the_cf_env_and_it_passes_the_schema(local: bool) -> None:
    found = containers(local)
    assert set(found) == {("shop", "shop"), ("shop", "proxy"), ("shop-worker", "worker"),
                          ("shop-worker", "proxy")}  # fmt: skip
    for container in found.values():
        env = env_of(container)
        assert env["CF_INSTANCE_IP"]["valueFrom"] == {"fieldRef": {"fieldPath": "status.podIP"}}
        assert env["CF_INSTANCE_GUID"]["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.uid"}}
        assert env["VCAP_APPLICATION"]["value"].count(cfenv.POD_GUID) == 1
        assert "s3cr3t" not in json.dumps(container)  # secrets stay in the Secret


def test_system_values_win_over_the_apps_env_and_each_process_has_its_own() -> None:
    found = containers(local=True)
    web, worker = found[("shop", "shop")], found[("shop-worker", "worker")]
    assert env_of(web)["PORT"] == {"name": "PORT", "value": "8080"}  # `env` beats the ConfigMap's 9999
    assert [e["name"] for e in web["env"]].count("PORT") == 1
    assert (env_of(web)["MEMORY_LIMIT"]["value"], env_of(worker)["MEMORY_LIMIT"]["value"]) == ("256m", "128m")
    assert (vcap(web)["process_type"], vcap(worker)["process_type"]) == ("web", "worker")
    assert vcap(web)["application_id"] == vcap(worker)["application_id"] == cfenv.application_id("proj-1", "shop")
    assert vcap(web)["name"] == "Shop"
    assert vcap(found[("shop", "proxy")]) == vcap(web)  # a sidecar sees its process's env, as in cf
    assert env_of(web)["VCAP_SERVICES"]["value"] == "{}"  # bound to nothing


def test_an_app_with_bindings_gets_vcap_services_from_them_only() -> None:
    objects = app_objects(replace(SHOP, services=("db",)), "i", project="p", local=True)
    for obj in objects:
        if obj["kind"] == "Deployment":
            for container in obj["spec"]["template"]["spec"]["containers"]:
                assert "VCAP_SERVICES" not in env_of(container)  # `env` would hide the binding Secret


def test_in_the_dev_loop_uris_are_the_routers_and_cf_api_is_local() -> None:
    web = containers(local=True, router_port=9000)[("shop", "shop")]
    assert vcap(web)["uris"] == ["shop.localhost:9000/api"]
    assert vcap(web)["cf_api"] == cfenv.CF_API


def test_export_names_the_ingress_routes_and_no_cf_api() -> None:
    found = containers(local=False)
    web = vcap(found[("shop", "shop")])
    assert web["uris"] == web["application_uris"] == ["shop.example.com/api"]
    assert "cf_api" not in web
    assert vcap(found[("shop-worker", "worker")])["uris"] == []
