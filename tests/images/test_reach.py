"""Which stores `devloop prune` reaches: for the kind provider each node of the cluster, as the
fake `kind` (which records its argv) lists them; the docker provider and a `--context` cluster
have only the local engine."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path

from devloop.core.spec import AppSpec, ProjectSpec, ProviderKind
from devloop.images.reach import reachable_stores
from tests.conftest import FakeKind


def project(tmp_path: Path, provider: ProviderKind) -> ProjectSpec:
    return ProjectSpec(file=tmp_path / "devloop.yaml", apps=(AppSpec("web", tmp_path),), provider=provider)


def test_the_nodes_of_the_kind_cluster_are_stores(tmp_path: Path, fake_kind: FakeKind) -> None:
    (fake_kind.state / "clusters").write_text("devloop\n")
    stores = asyncio.run(reachable_stores(project(tmp_path, ProviderKind.KIND)))
    names = [s.name for s in stores]
    assert names[0] == "local engine" and names[-1] == "kind node devloop-control-plane"
    assert ["get", "nodes", "--name", "devloop"] in fake_kind.calls()


def test_no_cluster_yet_means_no_node_store(tmp_path: Path, fake_kind: FakeKind) -> None:
    stores = asyncio.run(reachable_stores(project(tmp_path, ProviderKind.KIND)))
    assert not [s for s in stores if s.name.startswith("kind node")]
    assert ["get", "clusters"] in fake_kind.calls()


def test_docker_and_another_context_reach_the_engine_only(tmp_path: Path, fake_kind: FakeKind) -> None:
    (fake_kind.state / "clusters").write_text("devloop\n")
    docker = project(tmp_path, ProviderKind.DOCKER)
    other = replace(project(tmp_path, ProviderKind.KIND), context="team-cluster")
    for chosen in (docker, other):
        assert [s.name for s in asyncio.run(reachable_stores(chosen))] == ["local engine"]
    assert fake_kind.calls() == []
