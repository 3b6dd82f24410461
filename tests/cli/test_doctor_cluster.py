"""`devloop doctor` names the cluster type behind the context and the way images will reach it."""

from __future__ import annotations

from pathlib import Path

import pytest

from devloop.cli import doctor
from devloop.cli.doctor import Verdict, check_cluster

KUBECONFIG = """\
apiVersion: v1
kind: Config
current-context: k3d-demo
contexts:
- {name: k3d-demo, context: {cluster: k3d-demo, user: admin}}
- {name: docker-desktop, context: {cluster: docker-desktop, user: admin}}
- {name: team, context: {cluster: gke_team_europe-west1_dev, user: admin}}
clusters:
- {name: k3d-demo, cluster: {server: 'https://0.0.0.0:6550'}}
"""


@pytest.fixture(autouse=True)
def kubeconfig(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "config").write_text(KUBECONFIG)
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "config"))
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    from devloop.providers.kind import delivery

    monkeypatch.setattr(delivery, "engine_image_store", lambda: None)  # the classic store


def test_a_k3d_context_names_k3d_import() -> None:
    check = check_cluster("k3d-demo")
    assert check.verdict is Verdict.PASS
    assert check.detail.startswith("context k3d-demo is k3d (demo), told by cluster name k3d-demo;")
    assert check.detail.endswith("else k3d image import (fallback: docker save + k3d image import)")


def test_docker_desktop_on_the_default_engine_copies_nothing() -> None:
    assert check_cluster("docker-desktop").detail.endswith("images via shared engine (no copy)")


def test_an_unknown_context_warns_that_a_registry_is_needed() -> None:
    check = check_cluster("team")
    assert check.verdict is Verdict.WARN and "images need a registry" in check.detail
    assert check.fix is not None and "--registry" in check.fix


def test_without_a_context_it_is_devloops_own_kind_cluster() -> None:
    check = check_cluster(None, "devloop")
    assert check.detail.startswith("kind cluster devloop (no --context")
    assert "kind load docker-image" in check.detail
    assert doctor.exit_code([check]) == 0
