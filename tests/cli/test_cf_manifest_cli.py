"""A real-world cf manifest on the command line: validate and export before the app is built,
and the commands that need app names only work without the manifest's ((vars))."""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import pytest
import yaml

from tests.cli.test_cli import REPO, devloop

MANIFEST = """
---
defaults: &defaults
  memory: 512M
  disk_quota: 1G
applications:
- <<: *defaults
  name: Shop_API
  path: target/shop.jar
  buildpack: java_buildpack
  host: shop
  domain: Example.COM
  health-check-type: http
  health-check-http-endpoint: /actuator/health
  instances: ((instances))
- name: worker
  <<: *defaults
  path: worker
  no-route: true
  health-check-type: process
"""


def test_validate_and_export_an_unbuilt_java_app(tmp_path: Path) -> None:
    (tmp_path / "manifest.yml").write_text(textwrap.dedent(MANIFEST).lstrip("\n"))
    result = devloop("validate", "--var", "instances=2", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert "  Shop_API (shop-api): 2 instance(s), 512M, port 8080, not buildable yet" in result.stdout
    assert "warning: manifest.yml:8:9: a java app (path target/shop.jar)" in result.stderr
    assert "warning: manifest.yml:10:3: `host` is a cf v6 attribute" in result.stderr

    out = tmp_path / "k8s"
    result = devloop("export", "--var", "instances=2", "-o", str(out), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (
        "warning: shop-api cannot be built yet; its objects name the image devloop/shop-api:unbuilt"
        in result.stderr
    )
    texts = {p.name: p.read_text() for p in out.glob("*.yaml")}
    assert not any("&id0" in t or "*id0" in t for t in texts.values())
    objects = [o for t in texts.values() for o in yaml.safe_load_all(t) if o]
    (ingress,) = [o for o in objects if o["kind"] == "Ingress"]
    assert [r["host"] for r in ingress["spec"]["rules"]] == ["shop.example.com"]
    deployment = next(o for o in objects if o["kind"] == "Deployment" and o["metadata"]["name"] == "shop-api")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["resources"]["limits"] == {"memory": "512Mi", "ephemeral-storage": "1024Mi"}
    assert deployment["spec"]["replicas"] == 2


def test_missing_vars_refused_where_values_matter(tmp_path: Path) -> None:
    (tmp_path / "manifest.yml").write_text(textwrap.dedent(MANIFEST).lstrip("\n"))
    result = devloop("validate", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.splitlines()[0] == "error: manifest.yml:14:14: variable ((instances)) has no value"


@pytest.mark.docker
def test_commands_that_need_names_only_work_without_vars(tmp_path: Path) -> None:
    """Issue 25 item 6: `down` in cf-manifest-app failed with `variable ((greeting)) has no value`."""
    app = tmp_path / "cf-manifest-app"
    shutil.copytree(REPO / "samples" / "cf-manifest-app", app)
    for args in (("down",), ("status",)):
        result = devloop(*args, "--provider", "docker", cwd=app)
        assert result.returncode == 0, (args, result.stderr)
        assert "has no value" not in result.stderr
    assert "cf-app" in devloop("status", "--provider", "docker", cwd=app).stdout
    assert devloop("validate", cwd=app).returncode == 2  # where the values matter, still refused
