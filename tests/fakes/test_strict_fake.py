"""The fake API server says no where a real one does: these are the answers devloop's kind provider is tested against."""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx
import pytest

pytestmark = pytest.mark.docker  # the fake's kubelet talks to the local engine

NS = "team"


def apply(
    cluster: Any, obj: dict[str, Any], *, manager: str = "devloop", force: bool = True
) -> httpx.Response:
    kind = obj["kind"]
    plural = {"Service": "services", "Secret": "secrets", "Deployment": "deployments",
              "StatefulSet": "statefulsets", "ConfigMap": "configmaps", "Namespace": "namespaces"}[kind]  # fmt: skip
    base = "/apis/apps/v1" if kind in ("Deployment", "StatefulSet") else "/api/v1"
    ns = obj["metadata"].get("namespace")
    url = f"{base}{f'/namespaces/{ns}' if ns else ''}/{plural}/{obj['metadata']['name']}"
    params = {"fieldManager": manager, **({"force": "true"} if force else {})}
    with cluster.client() as client:
        return client.patch(url, params=params, content=json.dumps(obj).encode(),  # type: ignore[no-any-return]
                            headers={"Content-Type": "application/apply-patch+yaml"})  # fmt: skip


@pytest.fixture
def cluster(fake_cluster: Any) -> Any:
    assert (
        apply(fake_cluster, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}}).status_code
        == 201
    )
    return fake_cluster


def deployment(name: str = "web", labels: dict[str, str] | None = None, **spec: Any) -> dict[str, Any]:
    pod_labels = labels or {"app": name}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": NS},
            "spec": {"selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": pod_labels},
                                  "spec": {"containers": [{"name": "web", "image": "busybox:1.36"}]}}, **spec}}  # fmt: skip


def test_unknown_fields_are_400_and_wrong_types_422(cluster: Any) -> None:
    unknown = apply(cluster, deployment(replica=2))
    assert unknown.status_code == 400
    assert (
        unknown.json()["reason"] == "BadRequest"
        and ".spec.replica: field not declared in schema" in unknown.json()["message"]
    )
    typed = apply(cluster, deployment(replicas="two"))
    assert typed.status_code == 422 and typed.json()["kind"] == "Status"
    assert typed.json()["details"]["causes"][0]["field"] == "spec.replicas"


def test_names_labels_and_selectors_follow_the_api_servers_rules(cluster: Any) -> None:
    service = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "1web", "namespace": NS},
               "spec": {"ports": [{"port": 80}]}}  # fmt: skip
    answer = apply(cluster, service)
    assert answer.status_code == 422 and "a DNS-1035 label must consist of" in answer.json()["message"]
    assert answer.json()["message"].startswith(
        'Service "1web" is invalid: metadata.name: Invalid value: "1web"'
    )
    assert (
        apply(cluster, {**deployment("1web"), "metadata": {"name": "1web", "namespace": NS}}).status_code
        == 201
    )
    bad_label = apply(cluster, deployment(labels={"app": "web", "x": "not ok"}))
    assert (
        bad_label.status_code == 422
        and "a valid label must be an empty string" in bad_label.json()["message"]
    )
    mismatch = apply(cluster, deployment(labels={"app": "other"}))
    assert mismatch.status_code == 422
    assert "`selector` does not match template `labels`" in mismatch.json()["message"]


def test_a_deployments_selector_and_a_statefulsets_claims_cannot_change(cluster: Any) -> None:
    assert apply(cluster, deployment()).status_code == 201
    changed = deployment(labels={"app": "web", "tier": "x"})
    changed["spec"]["selector"]["matchLabels"]["tier"] = "x"
    answer = apply(cluster, changed)
    assert answer.status_code == 422 and "spec.selector: Invalid value" in answer.json()["message"]
    assert "field is immutable" in answer.json()["message"]
    sts = {**deployment("db"), "kind": "StatefulSet"}
    sts["spec"]["serviceName"] = "db"
    assert apply(cluster, sts).status_code == 201
    sts["spec"]["volumeClaimTemplates"] = [
        {"metadata": {"name": "data"}, "spec": {"accessModes": ["ReadWriteOnce"]}}
    ]
    forbidden = apply(cluster, sts)
    assert (
        forbidden.status_code == 422
        and "updates to statefulset spec for fields other than" in forbidden.json()["message"]
    )


def test_a_missing_namespace_and_a_wrong_scope_are_404(cluster: Any) -> None:
    missing = apply(cluster, {**deployment(), "metadata": {"name": "web", "namespace": "nowhere"}})
    assert missing.status_code == 404 and missing.json()["message"] == 'namespaces "nowhere" not found'
    with cluster.client() as client:
        unscoped = client.get("/api/v1/configmaps/x")
        other = client.get(f"/apis/example.com/v1/namespaces/{NS}/widgets/w")
    assert (
        unscoped.status_code == 404
        and unscoped.json()["message"] == "the server could not find the requested resource"
    )
    assert other.status_code == 404


def secret(**sections: dict[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": {"name": "s", "namespace": NS},
        **sections,
    }


def stored_keys(cluster: Any) -> set[str]:
    stored = cluster.call(cluster.api.fetch, "v1", "secrets", NS, "s")
    return set(stored.get("data") or {})


def test_string_data_keys_outlive_their_removal_under_apply_and_data_keys_do_not(cluster: Any) -> None:
    assert apply(cluster, secret(stringData={"A": "1", "B": "2"})).status_code == 201
    assert apply(cluster, secret(stringData={"A": "1"})).status_code == 200
    assert stored_keys(cluster) == {"A", "B"}  # upstream's leak: B is owned as stringData, stored as data
    cluster.call(cluster.api.drop, "v1", "secrets", cluster.call(cluster.api.fetch, "v1", "secrets", NS, "s"))
    encoded = {k: base64.b64encode(v.encode()).decode() for k, v in {"A": "1", "B": "2"}.items()}
    assert apply(cluster, secret(data=encoded)).status_code == 201
    assert apply(cluster, secret(data={"A": encoded["A"]})).status_code == 200
    assert stored_keys(cluster) == {"A"}
    managed = cluster.call(cluster.api.fetch, "v1", "secrets", NS, "s")["metadata"]["managedFields"]
    assert managed[0]["manager"] == "devloop" and managed[0]["fieldsV1"] == {
        "f:data": {"f:A": {}},
        "f:type": {},
    }


def test_another_managers_field_is_a_conflict_unless_forced(cluster: Any) -> None:
    assert apply(cluster, secret(data={"A": "MQ=="}), manager="other").status_code == 201
    conflict = apply(cluster, secret(data={"A": "Mg=="}), force=False)
    assert conflict.status_code == 409 and 'conflict with "other"' in conflict.json()["message"]
    assert apply(cluster, secret(data={"A": "Mg=="})).status_code == 200  # force takes the field over


def watch_lines(cluster: Any, **params: str) -> list[dict[str, Any]]:
    with cluster.client() as client, client.stream("GET", f"/api/v1/namespaces/{NS}/configmaps", timeout=10,
                      params={"watch": "true", **params}) as response:  # fmt: skip
        return [json.loads(line) for line in response.iter_lines() if line.strip()]


def test_watches_send_bookmarks_end_after_their_timeout_and_expire_old_versions(cluster: Any) -> None:
    events = watch_lines(cluster, allowWatchBookmarks="true", timeoutSeconds="2")  # ends by itself
    assert events and {e["type"] for e in events} == {"BOOKMARK"}
    assert events[-1]["object"]["metadata"]["resourceVersion"].isdigit()
    cluster.call(setattr, cluster.api, "compacted", 10**6)
    expired = watch_lines(cluster, resourceVersion="5")
    assert expired == [
        {"type": "ERROR", "object": {**expired[0]["object"], "code": 410, "reason": "Expired"}}
    ]


def test_a_container_no_longer_applied_goes_whole(cluster: Any) -> None:
    two = deployment()
    two["spec"]["template"]["spec"]["containers"].append(
        {"name": "stats", "image": "busybox:1.36", "imagePullPolicy": "IfNotPresent"}
    )
    assert apply(cluster, two).status_code == 201
    assert apply(cluster, deployment()).status_code == 200
    stored = cluster.call(cluster.api.fetch, "apps/v1", "deployments", NS, "web")
    assert stored["spec"]["template"]["spec"]["containers"] == [{"name": "web", "image": "busybox:1.36"}]


def test_the_fake_speaks_https_and_wants_a_client_certificate(cluster: Any) -> None:
    assert cluster.url.startswith("https://127.0.0.1:")
    anonymous = httpx.get(f"{cluster.url}/version", verify=False)
    assert anonymous.status_code == 401 and anonymous.json()["reason"] == "Unauthorized"
    with cluster.client() as client:
        assert client.get("/version").json()["gitVersion"].startswith("v1.")


def test_requests_above_limits_and_bad_ingress_hosts_are_invalid(cluster: Any) -> None:
    greedy = deployment()
    greedy["spec"]["template"]["spec"]["containers"][0]["resources"] = {
        "requests": {"memory": "1Gi"},
        "limits": {"memory": "64Mi"},
    }
    answer = apply(cluster, greedy)
    assert (
        answer.status_code == 422
        and "must be less than or equal to memory limit of 64Mi" in answer.json()["message"]
    )
    ingress = {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": {"name": "web", "namespace": NS},
               "spec": {"rules": [{"host": "Shop.Example.com", "http": {"paths": [{"path": "/", "pathType": "Prefix",
                        "backend": {"service": {"name": "web", "port": {"number": 80}}}}]}}]}}  # fmt: skip
    with cluster.client() as client:
        bad = client.patch(f"/apis/networking.k8s.io/v1/namespaces/{NS}/ingresses/web", params={"fieldManager": "t"},
                           content=json.dumps(ingress).encode(), headers={"Content-Type": "application/apply-patch+yaml"})  # fmt: skip
    assert (
        bad.status_code == 422
        and 'spec.rules[0].host: Invalid value: "Shop.Example.com"' in bad.json()["message"]
    )


def test_a_port_forward_to_a_pod_that_is_not_there_is_404_before_any_upgrade(cluster: Any) -> None:
    with cluster.client() as client:
        answer = client.get(f"/api/v1/namespaces/{NS}/pods/nope/portforward", params={"ports": "8080"})
    assert answer.status_code == 404 and answer.json()["message"] == 'pods "nope" not found'
