"""What runs behind a kubeconfig context: Tilt's and Skaffold's rules as one table."""

from __future__ import annotations

from pathlib import Path

import pytest

from devloop.providers.kind.clusters import (
    ClusterType,
    ContextFacts,
    colima_profile,
    detect,
    kubeconfig_facts,
    with_nodes,
)

HOME = "/home/dev"
DOCKER = "docker://27.3.1"
CONTAINERD = "containerd://1.7.22"

CASES = [
    # (facts, type, name, shares the engine)
    (dict(context="kind-dev", cluster="kind-dev"), ClusterType.KIND, "dev", False),
    (dict(context="kind", cluster="kind"), ClusterType.KIND, "kind", False),
    (dict(context="dev@kind", cluster="dev"), ClusterType.KIND, "dev", False),  # kind < 0.6
    (dict(context="old", location=f"{HOME}/.kube/kind-config-old"), ClusterType.KIND, "old", False),
    (dict(context="k3d-demo", cluster="k3d-demo"), ClusterType.K3D, "demo", False),
    (dict(context="work", location=f"{HOME}/.config/k3d/kubeconfig-work.yaml"), ClusterType.K3D, "work", False),
    (dict(context="lab", node_names=("k3d-lab-server-0", "k3d-lab-agent-0")), ClusterType.K3D, "lab", False),
    (dict(context="renamed", cluster="k3d-dev"), ClusterType.K3D, "dev", False),  # the cluster name first
    (dict(context="minikube", cluster="minikube"), ClusterType.MINIKUBE, "minikube", False),
    (dict(context="p2", certificate_authority=f"{HOME}/.minikube/ca.crt"), ClusterType.MINIKUBE, "p2", False),
    (dict(context="mk", node_labels={"minikube.k8s.io/name": "mk"}), ClusterType.MINIKUBE, "mk", False),
    (dict(context="docker-desktop", cluster="docker-desktop", container_runtimes=(DOCKER,)),
     ClusterType.DOCKER_DESKTOP, "docker-desktop", True),
    (dict(context="docker-for-desktop", cluster="docker-for-desktop-cluster",
          docker_host=f"unix://{HOME}/.docker/run/docker.sock"),
     ClusterType.DOCKER_DESKTOP, "docker-for-desktop-cluster", True),
    (dict(context="docker-desktop", cluster="docker-desktop", docker_host="tcp://builder.example:2376"),
     ClusterType.DOCKER_DESKTOP, "docker-desktop", False),  # another engine builds
    (dict(context="docker-desktop", cluster="docker-desktop", container_runtimes=(CONTAINERD,)),
     ClusterType.DOCKER_DESKTOP, "docker-desktop", False),  # Docker Desktop's kind-based cluster
    (dict(context="rancher-desktop", cluster="rancher-desktop",
          docker_host=f"unix://{HOME}/.rd/docker.sock", container_runtimes=(DOCKER,)),
     ClusterType.RANCHER_DESKTOP, "rancher-desktop", True),
    (dict(context="rancher-desktop", cluster="rancher-desktop", container_runtimes=(CONTAINERD,)),
     ClusterType.RANCHER_DESKTOP, "rancher-desktop", False),  # containerd mode: its own images
    (dict(context="colima", cluster="colima", docker_host=f"unix://{HOME}/.colima/default/docker.sock"),
     ClusterType.COLIMA, "default", True),
    (dict(context="colima-test", cluster="colima-test", docker_host=f"unix://{HOME}/.colima/default/docker.sock"),
     ClusterType.COLIMA, "test", False),  # another colima profile's engine
    (dict(context="colima-test", cluster="colima-test", docker_host=f"unix://{HOME}/.colima-test/docker.sock"),
     ClusterType.COLIMA, "test", True),
    (dict(context="orbstack", cluster="orbstack", docker_host=f"unix://{HOME}/.orbstack/run/docker.sock"),
     ClusterType.ORBSTACK, "orbstack", True),
    (dict(context="orbstack", cluster="orbstack"), ClusterType.ORBSTACK, "orbstack", False),
    (dict(context="laptop", node_names=("docker-desktop",)), ClusterType.DOCKER_DESKTOP, "laptop", True),
    (dict(context="docker-desktop", cluster="docker-desktop", container_runtimes=(DOCKER, CONTAINERD)),
     ClusterType.DOCKER_DESKTOP, "docker-desktop", False),  # one node keeps its own images
    (dict(context="gke_team_europe-west1_dev", cluster="gke_team_europe-west1_dev",
          server="https://34.1.2.3"), ClusterType.UNKNOWN, "gke_team_europe-west1_dev", False),
]  # fmt: skip


@pytest.mark.parametrize(("facts", "kind", "name", "shares"), CASES, ids=lambda v: str(v)[:40])
def test_the_cluster_behind_a_context(facts: dict[str, object], kind: ClusterType, name: str, shares: bool) -> None:
    found = detect(ContextFacts(**{"home": HOME, **facts}))  # type: ignore[arg-type]
    assert (found.type, found.name, found.shares_engine) == (kind, name, shares)
    assert found.why


@pytest.mark.parametrize(
    ("host", "profile"),
    [
        ("unix:///Users/me/.colima/docker.sock", "default"),  # colima < 0.4
        ("unix:///Users/me/.colima-test/docker.sock", "test"),
        ("unix:///Users/me/.colima/default/docker.sock", "default"),
        ("unix:///Users/me/.colima/test/docker.sock", "test"),
        ("unix:///home/me/.config/colima/default/docker.sock", "default"),
        ("unix:///var/run/docker.sock", ""),
    ],
)
def test_the_colima_profile_of_a_docker_socket(host: str, profile: str) -> None:
    assert colima_profile(host) == profile


def test_the_contexts_entry_is_read_across_kubeconfig_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first, second = tmp_path / "a.yaml", tmp_path / "b.yaml"
    first.write_text("current-context: k3d-demo\ncontexts: []\n")
    second.write_text(
        "contexts:\n- name: k3d-demo\n  context: {cluster: k3d-demo, user: admin@k3d-demo}\n"
        "clusters:\n- name: k3d-demo\n  cluster: {server: 'https://0.0.0.0:6550', certificate-authority: /ca.crt}\n"
    )
    monkeypatch.setenv("KUBECONFIG", f"{first}:{tmp_path / 'missing.yaml'}:{second}")
    monkeypatch.setenv("DOCKER_HOST", "unix:///run/user/1000/docker.sock")
    facts = kubeconfig_facts(None)  # the current context, from the first file that names one
    assert (facts.context, facts.cluster, facts.server) == ("k3d-demo", "k3d-demo", "https://0.0.0.0:6550")
    assert (facts.certificate_authority, facts.location) == ("/ca.crt", str(second))
    assert facts.docker_host == "unix:///run/user/1000/docker.sock"
    assert kubeconfig_facts("absent", second).cluster == ""


def test_the_node_list_adds_names_labels_and_the_runtime() -> None:
    node = {
        "metadata": {"name": "minikube", "labels": {"minikube.k8s.io/name": "minikube"}},
        "status": {"nodeInfo": {"containerRuntimeVersion": "docker://27.2.0"}},
    }
    facts = with_nodes(ContextFacts(context="mk"), [node, {"metadata": {"name": "minikube-m02"}}])
    assert facts.node_names == ("minikube", "minikube-m02")
    assert facts.container_runtimes == ("docker://27.2.0", "")
    assert detect(facts).type is ClusterType.MINIKUBE
    assert with_nodes(facts, []) == facts
