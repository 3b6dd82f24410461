"""cfenv: the environment Cloud Foundry documents for a running instance, for both providers."""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from devloop.core import cfenv
from devloop.core.processes import process_view
from devloop.core.spec import AppSpec, ProcessSpec

APP = AppSpec("my-app", Path("/src"), display_name="My App", memory_mb=256, disk_mb=512, port=8080)
PROJECT = "shop-1a2b3c4d"
# Every attribute the cf docs list for VCAP_APPLICATION, plus the ones Diego's launcher adds.
DOCUMENTED = {
    "application_id", "application_name", "application_uris", "application_version", "cf_api", "host",
    "instance_id", "instance_index", "limits", "name", "organization_id", "organization_name", "port",
    "process_id", "process_type", "space_id", "space_name", "start", "started_at",
    "started_at_timestamp", "state_timestamp", "uris", "users", "version",
}  # fmt: skip
SYSTEM = {
    "PORT", "VCAP_APP_PORT", "VCAP_APP_HOST", "MEMORY_LIMIT", "CF_INSTANCE_INDEX", "INSTANCE_INDEX",
    "CF_INSTANCE_GUID", "INSTANCE_GUID", "CF_INSTANCE_IP", "CF_INSTANCE_INTERNAL_IP", "CF_INSTANCE_PORT",
    "CF_INSTANCE_ADDR", "CF_INSTANCE_PORTS", "VCAP_APPLICATION",
}  # fmt: skip


def env_of(app: AppSpec = APP, *, process: str = "web", index: int = 0, generation: str = "g1",
           image: str = "devloop/my-app:abc", router_port: int = 8080) -> dict[str, str]:  # fmt: skip
    return cfenv.instance_env(
        app, project=PROJECT, process=process, index=index, generation=generation, image=image,
        router_port=router_port, ip="127.0.0.1", started_at=1_700_000_000.5,
    )  # fmt: skip


def vcap(env: dict[str, str]) -> dict[str, Any]:
    value: dict[str, Any] = json.loads(env["VCAP_APPLICATION"])
    return value


def test_an_instance_gets_every_documented_variable_and_attribute() -> None:
    env = env_of()
    assert set(env) == SYSTEM
    assert set(vcap(env)) == DOCUMENTED


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("application_name", "My App"),  # the name as written in the manifest
        ("name", "My App"),
        ("application_uris", ["my-app.localhost:8080"]),
        ("uris", ["my-app.localhost:8080"]),
        ("host", "0.0.0.0"),
        ("instance_index", 0),
        ("limits", {"disk": 512, "fds": 16384, "mem": 256}),
        ("organization_name", "devloop"),
        ("space_name", PROJECT),
        ("port", 8080),
        ("process_type", "web"),
        ("cf_api", "http://api.devloop.localhost"),
        ("users", None),
        ("start", "2023-11-14 22:13:20 +0000"),
        ("started_at", "2023-11-14 22:13:20 +0000"),
        ("started_at_timestamp", 1_700_000_000),
        ("state_timestamp", 1_700_000_000),
    ],
)
def test_vcap_application_values(key: str, expected: object) -> None:
    assert vcap(env_of())[key] == expected


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("PORT", "8080"),
        ("VCAP_APP_PORT", "8080"),
        ("VCAP_APP_HOST", "0.0.0.0"),
        ("MEMORY_LIMIT", "256m"),
        ("CF_INSTANCE_INDEX", "0"),
        ("INSTANCE_INDEX", "0"),
        ("CF_INSTANCE_IP", "127.0.0.1"),
        ("CF_INSTANCE_INTERNAL_IP", "127.0.0.1"),
        ("CF_INSTANCE_PORT", "8080"),
        ("CF_INSTANCE_ADDR", "127.0.0.1:8080"),
        ("CF_INSTANCE_PORTS", '[{"external":8080,"internal":8080}]'),
    ],
)
def test_instance_variables(key: str, expected: str) -> None:
    assert env_of()[key] == expected


def test_ids_are_uuids_stable_across_runs_and_distinct_across_apps_and_projects() -> None:
    first, again = vcap(env_of()), vcap(env_of())
    for key in ("application_id", "organization_id", "space_id", "process_id", "version", "instance_id"):
        assert str(uuid.UUID(first[key])) == first[key]
        assert again[key] == first[key]
    other_app = vcap(env_of(replace(APP, name="other")))
    assert other_app["application_id"] != first["application_id"]
    assert other_app["space_id"] == first["space_id"]  # same project, same space
    other_project = cfenv.application_id("other-project", "my-app")
    assert other_project != first["application_id"]
    assert first["process_id"] == first["application_id"]  # cf: web shares the app's GUID
    assert first["version"] == first["application_version"]


def test_instance_guid_matches_vcap_and_changes_per_index_and_deploy() -> None:
    env = env_of()
    assert env["CF_INSTANCE_GUID"] == env["INSTANCE_GUID"] == vcap(env)["instance_id"]
    guids = {env_of(index=i, generation=g)["CF_INSTANCE_GUID"] for i in (0, 1) for g in ("g1", "g2")}
    assert len(guids) == 4


def test_index_is_per_instance() -> None:
    env = env_of(index=2)
    assert (env["CF_INSTANCE_INDEX"], env["INSTANCE_INDEX"], vcap(env)["instance_index"]) == ("2", "2", 2)


def test_a_new_build_is_a_new_version() -> None:
    assert vcap(env_of(image="devloop/my-app:1"))["version"] != vcap(env_of(image="devloop/my-app:2"))["version"]


@pytest.mark.parametrize(
    ("app", "router_port", "expected"),
    [
        (APP, 8080, ["my-app.localhost:8080"]),
        (APP, 80, ["my-app.localhost"]),
        (replace(APP, routes=("shop.apps.example.com/api", "www.example.com")), 8080,
         ["shop.localhost:8080/api", "www.localhost:8080"]),
        (replace(APP, no_route=True), 8080, []),
        (replace(APP, internal_routes=("my-app.apps.internal",)), 8080,
         ["my-app.localhost:8080", "my-app.apps.internal"]),
    ],
)  # fmt: skip
def test_uris_are_the_routes_the_router_serves(app: AppSpec, router_port: int, expected: list[str]) -> None:
    got = vcap(env_of(app, router_port=router_port))
    assert got["application_uris"] == got["uris"] == expected


def test_defaults_when_the_manifest_sets_no_memory_or_disk() -> None:
    env = env_of(replace(APP, memory_mb=None, disk_mb=None))
    assert env["MEMORY_LIMIT"] == "1024m"
    assert vcap(env)["limits"] == {"disk": 1024, "fds": 16384, "mem": 1024}


def test_a_worker_process_has_its_own_type_id_memory_and_no_uris() -> None:
    app = replace(APP, processes=(ProcessSpec("worker", "python worker.py", memory_mb=128),))
    worker = process_view(app, "worker")
    env = env_of(worker, process="worker")
    got = vcap(env)
    assert (got["process_type"], got["uris"], env["MEMORY_LIMIT"]) == ("worker", [], "128m")
    assert got["process_id"] != got["application_id"]
    assert got["application_id"] == vcap(env_of(app))["application_id"]


def test_no_secret_and_no_user_env_in_the_system_env() -> None:
    app = replace(APP, env=(("GREETING", "hi"),), secret_env=(("VCAP_SERVICES", '{"p": []}'), ("PW", "s3")))
    env = env_of(app)
    assert set(env) == SYSTEM
    assert "s3" not in json.dumps(env)


def test_non_ascii_display_names_stay_readable() -> None:
    env = env_of(replace(APP, name="app-1a2b3c", display_name="东 程"))
    assert '"application_name": "东 程"' in env["VCAP_APPLICATION"]


# --- pods ---------------------------------------------------------------------------------------


def pod(app: AppSpec = APP, **kw: Any) -> dict[str, Any]:
    entries = cfenv.pod_env(app, project=PROJECT, process="web", image="devloop/my-app:abc",
                            app_uris=["my-app.localhost:8080"], **kw)  # fmt: skip
    assert len({e["name"] for e in entries}) == len(entries)
    return {e["name"]: e for e in entries}


def expand(entries: dict[str, dict[str, Any]], fields: dict[str, str]) -> dict[str, str]:
    """What the kubelet does: downward-API fields, then `$(VAR)` from the variables before it,
    `$$(` as a literal `$(`."""
    env: dict[str, str] = {}
    for name, entry in entries.items():
        if "valueFrom" in entry:
            env[name] = fields[entry["valueFrom"]["fieldRef"]["fieldPath"]]
            continue

        def one(m: re.Match[str]) -> str:
            return "$(" if m.group(0) == "$$(" else env.get(m.group(1), m.group(0))

        env[name] = re.sub(r"\$\$\(|\$\((\w+)\)", one, entry["value"])
    return env


FIELDS = {"metadata.uid": "6f1c2a1e-0000-4000-8000-000000000001", "status.podIP": "10.244.0.7"}


def test_a_pod_gets_the_same_variables_with_what_only_the_pod_knows_from_the_downward_api() -> None:
    entries = pod()
    assert set(entries) == SYSTEM
    assert entries["CF_INSTANCE_GUID"]["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.uid"}}
    assert entries["CF_INSTANCE_IP"]["valueFrom"] == {"fieldRef": {"fieldPath": "status.podIP"}}
    assert entries["CF_INSTANCE_INTERNAL_IP"]["valueFrom"] == {"fieldRef": {"fieldPath": "status.podIP"}}
    env = expand(entries, FIELDS)
    assert env["CF_INSTANCE_ADDR"] == "10.244.0.7:8080"
    assert env["INSTANCE_GUID"] == FIELDS["metadata.uid"]
    got = json.loads(env["VCAP_APPLICATION"])
    assert got["instance_id"] == FIELDS["metadata.uid"]
    assert got["instance_index"] == 0
    assert set(got) == DOCUMENTED - {"start", "started_at", "started_at_timestamp", "state_timestamp"}


def test_a_pod_env_is_the_same_on_every_apply_and_has_no_start_time() -> None:
    assert pod() == pod()


def test_a_literal_dollar_paren_in_a_value_survives_expansion() -> None:
    env = expand(pod(replace(APP, display_name="pay $(now)")), FIELDS)
    assert json.loads(env["VCAP_APPLICATION"])["name"] == "pay $(now)"


def test_no_cf_api_when_asked_for_none() -> None:
    entries = pod(cf_api=None)
    assert "cf_api" not in json.loads(expand(entries, FIELDS)["VCAP_APPLICATION"])


@pytest.mark.parametrize(
    ("app", "expected"),
    [
        (APP, {"VCAP_SERVICES": "{}"}),  # cf sets it even when nothing is bound
        (replace(APP, services=("db",)), {}),  # the bindings bring their own
        (replace(APP, env=(("VCAP_SERVICES", '{"x": []}'),)), {}),
        (replace(APP, secret_env=(("VCAP_SERVICES", '{"x": []}'),)), {}),
    ],
)
def test_vcap_services_is_an_empty_object_for_an_app_bound_to_nothing(
    app: AppSpec, expected: dict[str, str]
) -> None:
    assert cfenv.unbound_services(app) == expected
