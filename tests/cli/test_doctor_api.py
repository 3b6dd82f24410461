"""`devloop doctor` on the API server: the one devloop would use (a context, its kind cluster, the
current context) and its median latency over a few round trips, against the fake API server."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from click.testing import CliRunner

from devloop.cli import cli, doctor_api
from devloop.cli.doctor import Verdict, check_api_latency
from devloop.cli.doctor_api import ROUND_TRIPS, ApiTarget, api_target
from tests.fakes.kubeapi import FakeCluster


def test_the_api_server_is_the_context_else_the_kind_cluster_else_the_current_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "kubeconfig"))
    assert api_target(None, "devloop") is None  # nothing yet: no check
    (tmp_path / "kubeconfig").write_text("apiVersion: v1\nkind: Config\ncurrent-context: team-dev\n")
    assert api_target(None, "devloop") == ApiTarget("context team-dev (current)", "team-dev")
    cached = tmp_path / "cache" / "devloop" / "kube" / "devloop.yaml"
    cached.parent.mkdir(parents=True)
    cached.write_text("{}")
    assert api_target(None, "devloop") == ApiTarget("kind cluster devloop", None, cached)
    assert api_target("prod-eu", "devloop") == ApiTarget("context prod-eu", "prod-eu")


def test_doctor_shows_the_api_servers_median_round_trip(
    tmp_path: Path, fake_cluster: FakeCluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "team-kubeconfig"
    config.write_text(fake_cluster.kubeconfig_text("team-dev"))
    monkeypatch.setenv("KUBECONFIG", str(config))
    before = fake_cluster.call(lambda: len(fake_cluster.api.requests_seen))  # type: ignore[union-attr]
    check = check_api_latency(ApiTarget("context team-dev", "team-dev"))
    assert check.verdict is Verdict.PASS, check
    seen = fake_cluster.call(lambda: list(fake_cluster.api.requests_seen)[before:])  # type: ignore[union-attr]
    assert [r[:2] for r in seen].count(("GET", "/version/")) >= ROUND_TRIPS  # each trip a real request
    assert check.detail.startswith("context team-dev at https://127.0.0.1:")
    assert check.detail.endswith(f" ms median over {ROUND_TRIPS} round trips")
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["doctor", "--context", "team-dev"])
    assert "] api server: context team-dev at https://127.0.0.1:" in result.output


def test_an_api_server_that_is_not_there_is_a_warning_naming_the_context(
    tmp_path: Path, fake_cluster: FakeCluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead = sock.getsockname()[1]
    text = fake_cluster.kubeconfig_text("gone").replace(fake_cluster.url, f"https://127.0.0.1:{dead}")
    (tmp_path / "kubeconfig").write_text(text)
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "kubeconfig"))
    monkeypatch.setattr(doctor_api, "CONNECT_S", 0.0)  # one try: the port is closed, no need to wait
    check = check_api_latency(ApiTarget("context gone", "gone"))
    assert check.verdict is Verdict.WARN
    assert check.detail.startswith("context gone: ") and "not answering" in check.detail
