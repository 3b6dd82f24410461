"""What devloop reads from a container's labels and inspect data: plain tests, no engine."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from devloop.adapters.dockerapi import ContainerInfo
from devloop.adapters.dockerrecords import container_info, summary_info
from devloop.core.spec import AppSpec, SidecarSpec
from devloop.providers.docker.labels import (
    LABEL_INDEX,
    LABEL_PROCESS,
    LABEL_SIDECAR,
    address_of,
    backends_of,
    config_hash,
    instance_label,
    instance_of,
    instance_status,
    numeric_user,
    sidecars_among,
    started_ns,
)

APP = AppSpec("web", Path("."), port=8080, env=(("A", "1"),), secret_env=(("TOKEN", "s"),))


def container(
    labels: dict[str, str] | None = None, status: str = "running", cid: str = "c1", **attrs: Any
) -> ContainerInfo:
    """A container as the engine seam reads one from an inspect, with only what devloop reads."""
    state = {**attrs.pop("State", {}), "Status": status}
    return container_info({"Id": cid, "Name": f"/devloop-{cid}", "State": state,
                           "Config": {"Labels": labels or {}}, **attrs})  # fmt: skip


def published(port: int, host_port: str, host_ip: str = "127.0.0.1") -> dict[str, Any]:
    return {"Ports": {f"{port}/tcp": [{"HostIp": host_ip, "HostPort": host_port}]}}


def test_the_config_hash_is_stable_and_changes_with_what_shapes_the_container() -> None:
    base = config_hash(APP, "img:1")
    assert base == config_hash(replace(APP, env=(("A", "1"),)), "img:1")
    assert len(base) == 16
    changed = [
        config_hash(APP, "img:2"),
        config_hash(replace(APP, env=(("A", "2"),)), "img:1"),
        config_hash(replace(APP, secret_env=(("TOKEN", "t"),)), "img:1"),
        config_hash(replace(APP, memory_mb=256), "img:1"),
        config_hash(replace(APP, port=9090), "img:1"),
        config_hash(replace(APP, command="serve"), "img:1"),
        config_hash(APP, "img:1", "worker"),
        config_hash(APP, "img:1", sidecars=(SidecarSpec("stats", "run-stats", ("web",)),)),
    ]
    assert base not in changed and len(set(changed)) == len(changed)


def test_a_web_container_hashes_as_it_did_before_process_types() -> None:
    assert config_hash(APP, "img:1", "web") == config_hash(APP, "img:1")


@pytest.mark.parametrize(
    ("labels", "label"),
    [({LABEL_INDEX: "2"}, "2"), ({LABEL_INDEX: "1", LABEL_PROCESS: "worker"}, "worker/1"), ({}, "?")],
)
def test_an_instance_is_named_by_its_index_and_non_web_process(labels: dict[str, str], label: str) -> None:
    assert instance_label(container(labels)) == label
    assert instance_label(summary_info({"Labels": labels})) == label  # a summary reads the same


@pytest.mark.parametrize(
    ("network", "address"),
    [
        (published(8080, "32768"), ("127.0.0.1", 32768)),
        (published(8080, "32768", host_ip=""), ("127.0.0.1", 32768)),
        (published(8080, "32768", host_ip="0.0.0.0"), None),  # devloop publishes on loopback only
        (published(9090, "32768"), None),  # another port
        (published(8080, ""), None),  # not bound yet
        ({}, None),
    ],
)
def test_the_address_is_the_apps_port_on_loopback(
    network: dict[str, Any], address: tuple[str, int] | None
) -> None:
    assert address_of(container(NetworkSettings=network), 8080) == address


def test_backends_are_the_published_containers_with_their_index() -> None:
    one = container({LABEL_INDEX: "0"}, NetworkSettings=published(8080, "32768"))
    unpublished = container({LABEL_INDEX: "1"})
    assert backends_of([one, unpublished], 8080) == [("127.0.0.1", 32768, "0")]


def test_a_sidecar_belongs_to_the_instance_whose_network_it_shares() -> None:
    sidecar = container({LABEL_SIDECAR: "stats"}, cid="s1", HostConfig={"NetworkMode": "container:c1"})
    summary = summary_info(
        {"Labels": {LABEL_SIDECAR: "stats"}, "HostConfig": {"NetworkMode": "container:c1"}}
    )
    main = container(cid="c1", HostConfig={"NetworkMode": "devloop-p"})
    assert instance_of(sidecar) == instance_of(summary) == "c1"
    assert sidecars_among([main, sidecar, summary], "c1") == [sidecar, summary]
    assert sidecars_among([main, sidecar], "c2") == []


@pytest.mark.parametrize(
    ("status", "state", "stopping", "shown", "exit_code"),
    [
        ("running", {"Running": True, "ExitCode": 0}, False, "running", None),
        ("restarting", {"ExitCode": 1}, False, "crashed", 1),
        ("exited", {"ExitCode": 3}, False, "crashed", 3),
        ("exited", {"ExitCode": 0}, False, "exited", 0),
        ("dead", {}, False, "exited", None),
        ("created", {}, False, "starting", None),
        ("exited", {"ExitCode": 143, "OOMKilled": True}, True, "stopping", 143),  # devloop stopped it
    ],
)
def test_the_instance_status_says_what_the_container_is_doing(
    status: str, state: dict[str, Any], stopping: bool, shown: str, exit_code: int | None
) -> None:
    one = container(
        {LABEL_INDEX: "1", LABEL_PROCESS: "worker"}, status, State=state, RestartCount=2,
        HostConfig={"Memory": 256 * 1024 * 1024}, NetworkSettings=published(8080, "32768"),
    )  # fmt: skip
    got = instance_status(one, APP, stopping)
    assert (got.state, got.healthy, got.exit_code) == (shown, shown == "running", exit_code)
    assert (got.index, got.process, got.restarts, got.memory_limit_mb) == (1, "worker", 2, 256)
    assert got.address == "127.0.0.1:32768" and got.name == "devloop-c1"
    assert got.oom_killed is (bool(state.get("OOMKilled")) and not stopping)


@pytest.mark.parametrize(
    ("stamp", "ns"), [("2024-05-01T10:00:00.5Z", 1714557600500000000), ("", 0), ("garbage", 0)]
)
def test_started_ns_reads_the_start_time_or_zero(stamp: str, ns: int) -> None:
    assert started_ns(container(State={"StartedAt": stamp})) == ns


@pytest.mark.parametrize(
    ("user", "ids"), [("", (0, 0)), ("10001", (10001, 10001)), ("10001:20", (10001, 20)), ("app", (0, 0))]
)
def test_a_sync_writes_files_as_the_images_numeric_user(user: str, ids: tuple[int, int]) -> None:
    assert numeric_user(user) == ids
