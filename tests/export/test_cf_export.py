"""What a cf manifest's routes and sizes become in exported objects; written files stand alone."""

from __future__ import annotations

from pathlib import Path

import kubernetes_validate
import pytest

from devloop.cli.export import dump
from devloop.core.spec import AppSpec, HealthCheck, HealthCheckType
from devloop.providers.kind.objects import app_objects, ingress_rules

SRC = Path("/src")

RULES = [
    ((), [("web.localhost", "/")]),
    (("shop.example.com/api", "shop.example.com"), [("shop.example.com", "/api"), ("shop.example.com", "/")]),
    (("Shop.Example.COM/api/",), [("shop.example.com", "/api")]),
    (("tcp.example.com:1234", "web.example.com"), [("web.example.com", "/")]),
    (("bad_host.example.com",), [("web.localhost", "/")]),
]


@pytest.mark.parametrize(("routes", "rules"), RULES, ids=[str(r) for r, _ in RULES])
def test_ingress_rules_keep_paths_and_only_dns_hosts(
    routes: tuple[str, ...], rules: list[tuple[str, str]]
) -> None:
    assert ingress_rules(AppSpec("web", SRC, routes=routes)) == rules


def test_ingress_with_paths_and_disk_passes_the_schema() -> None:
    app = AppSpec("shop", SRC, routes=("shop.example.com/api", "shop.example.com"), disk_mb=1024,
                  health=HealthCheck(HealthCheckType.HTTP, "/health"))  # fmt: skip
    for obj in app_objects(app, "devloop/shop:abc", project="p"):
        kubernetes_validate.validate(obj, "1.37.0", strict=True)
        if obj["kind"] == "Ingress":
            assert [p["path"] for p in obj["spec"]["rules"][0]["http"]["paths"]] == ["/api", "/"]


def test_written_yaml_has_no_anchors_or_aliases() -> None:
    shared = {"httpGet": {"path": "/health", "port": 8080}}
    text = dump({"startupProbe": shared, "readinessProbe": shared})
    assert "&" not in text and "*" not in text
    assert text.count("path: /health") == 2


def test_export_to_a_file_or_an_unwritable_place_is_one_message(tmp_path: Path) -> None:
    from devloop.cli.export import write
    from devloop.core.spec import ProjectSpec
    from devloop.errors import UsageError

    project = ProjectSpec(tmp_path / "manifest.yml", (AppSpec("web", SRC),))
    (tmp_path / "taken").write_text("x")
    with pytest.raises(UsageError, match=r"^-o .*taken is a file; export writes a folder of YAML files$"):
        write(project, {"web": "i"}, "p", tmp_path / "taken", "yaml")
    with pytest.raises(
        UsageError, match=r"^cannot write the export to .*taken/k8s: .*taken/k8s: Not a directory$"
    ):
        write(project, {"web": "i"}, "p", tmp_path / "taken" / "k8s", "yaml")
