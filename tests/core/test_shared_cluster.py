"""A shared cluster's pure decisions: which registry addresses are taken (and what each wrong one is
told), which contexts are local, and the per-developer namespace names."""

from __future__ import annotations

import pytest

from devloop.core.shared_cluster import (
    RegistryRef,
    check_namespace,
    developer_namespace,
    is_local_context,
    parse_registry,
)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("registry.example.com/team", RegistryRef("registry.example.com", "team")),
        ("127.0.0.1:5000", RegistryRef("127.0.0.1:5000")),
        ("localhost", RegistryRef("localhost")),
        ("ghcr.io/acme/dev-images/", RegistryRef("ghcr.io", "acme/dev-images")),
        ("docker.io/alice", RegistryRef("docker.io", "alice")),
        ("reg.internal:443/a.b/c_d/e--f", RegistryRef("reg.internal:443", "a.b/c_d/e--f")),
    ],
)
def test_registry_addresses_are_host_port_and_prefix(value: str, expected: RegistryRef) -> None:
    assert parse_registry(value) == expected
    assert str(parse_registry(value)) == value.rstrip("/")


@pytest.mark.parametrize(
    ("value", "said"),
    [
        ("https://registry.example.com", "without a scheme"),
        ("alice", "for Docker Hub write docker.io/alice"),
        ("reg.example.com:99999/x", "optional :PORT"),
        ("reg.example.com:/x", "optional :PORT"),
        ("reg.example.com/Team", "'Team' is no repository path part"),
        ("reg.example.com/a//b", "'' is no repository path part"),
        ("-bad.example.com", "must start with a host name"),
        ("", "must start with a host name"),
    ],
)
def test_a_wrong_registry_address_says_what_is_expected(value: str, said: str) -> None:
    with pytest.raises(ValueError, match=said):
        parse_registry(value)


@pytest.mark.parametrize(
    ("context", "local"),
    [(None, True), ("kind-devloop", True), ("k3d-dev", True), ("minikube", True), ("docker-desktop", True),
     ("orbstack", True), ("rancher-desktop", True), ("colima", True),
     ("team-dev", False), ("gke_acme_europe-west1_dev", False), ("arn:aws:eks:eu-west-1:1:cluster/dev", False),
     ("kindly-shared", False)],
)  # fmt: skip
def test_local_distributions_are_known_by_their_context_names(context: str | None, local: bool) -> None:
    assert is_local_context(context) is local


@pytest.mark.parametrize(
    ("user", "project", "expected"),
    [
        ("alice", "shop", "devloop-alice-shop"),
        ("Alice.Smith", "My_Shop", "devloop-alice-smith-my-shop"),
        ("DOMAIN\\bob", "--api--", "devloop-domain-bob-api"),
        ("", "", "devloop-user-project"),
        ("ünïcode", "ßhop", "devloop-n-code-hop"),
        ("a" * 40, "p" * 80, "devloop-" + "a" * 24 + "-" + "p" * 30),
    ],
)
def test_the_developer_namespace_is_a_dns_label_of_user_and_project(
    user: str, project: str, expected: str
) -> None:
    name = developer_namespace(user, project)
    assert name == expected
    assert check_namespace(name) == name and len(name) <= 63


def test_a_namespace_cut_at_63_never_ends_in_a_dash() -> None:
    name = developer_namespace("bob", "x" * 50 + "-" + "y" * 20)
    assert len(name) <= 63 and not name.endswith("-") and check_namespace(name) == name


@pytest.mark.parametrize("value", ["Team", "a_b", "-a", "a-", "x" * 64, ""])
def test_a_namespace_must_be_a_dns_label(value: str) -> None:
    with pytest.raises(ValueError, match=r"invalid namespace .*: use lower-case letters, digits"):
        check_namespace(value)
