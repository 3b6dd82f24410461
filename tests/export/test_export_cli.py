"""`devloop export` as a user runs it, in each format."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

SAMPLES = Path(__file__).resolve().parents[2] / "samples"
PLANTED = "planted-secret-7f3a"


@pytest.fixture
def sample(tmp_path: Path) -> Path:
    folder = tmp_path / "python-web"
    shutil.copytree(SAMPLES / "python-web", folder)
    (folder / ".env").write_text(f"API_TOKEN={PLANTED}\n")
    config = (folder / "devloop.yaml").read_text()
    (folder / "devloop.yaml").write_text(config + "    env_file: .env\n")
    return folder


def export(folder: Path, fmt: str) -> Path:
    out = folder / "out"
    result = subprocess.run([sys.executable, "-m", "devloop", "export", "-o", str(out), "--format", fmt],
                            cwd=folder, capture_output=True, text=True, timeout=60)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "secret values are placeholders" in result.stdout
    assert PLANTED not in result.stdout + result.stderr
    return out


def all_text(folder: Path) -> str:
    return "".join(p.read_text() for p in folder.rglob("*") if p.is_file())


def test_yaml_files_validate_and_hold_no_secret(sample: Path) -> None:
    out = export(sample, "yaml")
    files = sorted(out.glob("*.yaml"))
    kinds = [yaml.safe_load(f.read_text())["kind"] for f in files]
    assert kinds == [
        "Secret",
        "Deployment",
        "Service",
        "Ingress",
        "PodDisruptionBudget",
    ]  # no HorizontalPodAutoscaler unless `--autoscale` asks for one
    for f in files:
        kubernetes_validate.validate(yaml.safe_load(f.read_text()), "1.37.0", strict=True)
    assert PLANTED not in all_text(out) and "REPLACE-ME" in all_text(out)
    deployment = yaml.safe_load(files[1].read_text())
    image = deployment["spec"]["template"]["spec"]["containers"][0]["image"]
    assert image.startswith("devloop/web:") and not image.endswith(":latest")


def test_kustomize_base_and_overlay(sample: Path) -> None:
    out = export(sample, "kustomize")
    base = yaml.safe_load((out / "base" / "kustomization.yaml").read_text())
    assert len(base["resources"]) == 5 and all((out / "base" / r).is_file() for r in base["resources"])
    overlay = yaml.safe_load((out / "overlays" / "dev" / "kustomization.yaml").read_text())
    assert overlay["resources"] == ["../../base"] and overlay["images"][0]["name"] == "devloop/web"
    if shutil.which("kubectl") is None:
        pytest.skip("kubectl is not installed: the kustomize build itself was not checked")
    built = subprocess.run(
        ["kubectl", "kustomize", str(out / "overlays" / "dev")], capture_output=True, text=True
    )
    assert built.returncode == 0, built.stderr
    for doc in yaml.safe_load_all(built.stdout):
        kubernetes_validate.validate(doc, "1.37.0", strict=True)


def test_helm_chart_takes_image_and_replicas_from_values(sample: Path) -> None:
    out = export(sample, "helm")
    chart = out / "python-web"
    assert yaml.safe_load((chart / "Chart.yaml").read_text())["apiVersion"] == "v2"
    values = yaml.safe_load((chart / "values.yaml").read_text())
    assert values["apps"]["web"]["replicas"] == 2 and values["apps"]["web"]["image"].startswith(
        "devloop/web:"
    )
    deployment = (chart / "templates" / "02-deployment-web.yaml").read_text()
    assert '{{ (index .Values.apps "web").image | quote }}' in deployment
    assert '{{ (index .Values.apps "web").replicas }}' in deployment
    assert PLANTED not in all_text(out)


def test_services_export_as_statefulsets_with_a_managed_service_note(tmp_path: Path) -> None:
    folder = tmp_path / "services-app"
    shutil.copytree(SAMPLES / "services-app", folder)
    out = export(folder, "yaml")
    documents = {f.name: (f.read_text(), yaml.safe_load(f.read_text())) for f in sorted(out.glob("*.yaml"))}
    for _text, obj in documents.values():
        kubernetes_validate.validate(obj, "1.37.0", strict=True)
    by_kind = [(obj["kind"], obj["metadata"]["name"]) for _t, obj in documents.values()]
    for name in ("db", "queue"):
        assert ("StatefulSet", name) in by_kind and ("Service", name) in by_kind
        assert ("Secret", f"{name}-credentials") in by_kind
    assert ("Secret", "web-bindings") in by_kind
    # The worker process type is its own Deployment from the same image, reading the same bindings.
    assert ("Deployment", "web") in by_kind and ("Deployment", "web-worker") in by_kind
    for text, obj in documents.values():
        is_service = obj["metadata"]["labels"].get("app.kubernetes.io/component") == "backing-service"
        assert ("In production, use a managed service" in text) == is_service
    sts = next(
        obj
        for _t, obj in documents.values()
        if obj["kind"] == "StatefulSet" and obj["metadata"]["name"] == "db"
    )
    assert sts["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"] == "1Gi"
    bindings = next(obj for _t, obj in documents.values() if obj["metadata"]["name"] == "web-bindings")
    vcap = json.loads(bindings["stringData"]["VCAP_SERVICES"])
    assert vcap["postgresql"][0]["credentials"]["hostname"] == "db"
    assert vcap["postgresql"][0]["credentials"]["password"] == "REPLACE-ME"  # never a real password
    web = next(
        obj
        for _t, obj in documents.values()
        if obj["kind"] == "Deployment" and obj["metadata"]["name"] == "web"
    )
    assert {"secretRef": {"name": "web-bindings"}} in web["spec"]["template"]["spec"]["containers"][0][
        "envFrom"
    ]


def test_credentials_in_a_cf_manifest_env_go_into_the_secret_not_the_configmap(tmp_path: Path) -> None:
    """A cf manifest's `env:` holding credentials: each in the Secret as a placeholder, one notice."""
    (tmp_path / "requirements.txt").write_text("")
    (tmp_path / "app.py").write_text("print('hi')\n")
    (tmp_path / "manifest.yml").write_text(
        "applications:\n- name: orders\n  env:\n"
        "    DATABASE_URL: postgres://orders:pw-in-url-5e1@db:5432/orders\n"
        "    STRIPE_API_KEY: key-value-77c\n    SMTP_PASSWORD: smtp-pw-91\n    SESSION_SECRET: sess-4d\n"
        "    GITHUB_TOKEN: tok-0b2\n    GREETING: hello\n    PLAIN_URL: https://example.com/x\n"
    )
    out = tmp_path / "out"
    result = subprocess.run([sys.executable, "-m", "devloop", "export", "-o", str(out)], cwd=tmp_path,
                            capture_output=True, text=True, timeout=60)  # fmt: skip
    assert result.returncode == 0, result.stderr
    planted = ("pw-in-url-5e1", "key-value-77c", "smtp-pw-91", "sess-4d", "tok-0b2")
    assert not any(p in all_text(out) + result.stdout + result.stderr for p in planted)
    docs = [yaml.safe_load(f.read_text()) for f in sorted(out.glob("*.yaml"))]
    config_map = next(d for d in docs if d["kind"] == "ConfigMap")
    secret = next(d for d in docs if d["kind"] == "Secret" and d["metadata"]["name"] == "orders-secrets")
    assert config_map["data"] == {"GREETING": "hello", "PLAIN_URL": "https://example.com/x"}
    moved = ["DATABASE_URL", "STRIPE_API_KEY", "SMTP_PASSWORD", "SESSION_SECRET", "GITHUB_TOKEN"]
    assert sorted(secret["stringData"]) == sorted(moved)
    assert set(secret["stringData"].values()) == {"REPLACE-ME"}
    notices = [line for line in result.stderr.splitlines() if "look like credentials" in line]
    assert notices == [
        f"warning: orders: {', '.join(moved)} look like credentials: exported into the Secret "
        "orders-secrets with placeholders, not the ConfigMap; set them before applying"
    ]
