"""`devloop status`: last deploy and last error columns, the memory limit, running while the old serves."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from devloop.core.status import AppStatus, Counts, ago, shown_state, table, with_shown_state


def row(**extra: Any) -> AppStatus:
    base = AppStatus(
        name="web", state="running", instances=Counts(running=2, desired=2), memory_mb=128,
        url="http://web.localhost:8080", last_deploy_at=1000.0, last_error=None, processes={},
    )  # fmt: skip
    return replace(base, **extra)


def test_the_table_names_its_columns_and_fills_them() -> None:
    lines = table([row()], now=1042.0)
    assert lines[0].split() == ["name", "state", "instances", "memory", "limit", "last", "deploy", "url",
                                "last", "error"]  # fmt: skip
    assert lines[1].split() == [
        "web",
        "running",
        "2/2",
        "128M",
        "42s",
        "ago",
        "http://web.localhost:8080",
        "-",
    ]


def test_a_failed_new_version_while_the_old_serves_is_running_with_the_error() -> None:
    failed = row(state="failed", last_error="web/0 exited with code 1 before becoming healthy\nmore")
    assert shown_state(failed) == "running"
    assert table([failed], now=1000.0)[1].split()[:3] == ["web", "running", "2/2"]
    assert table([failed], now=1000.0)[1].endswith("web/0 exited with code 1 before becoming healthy")
    assert with_shown_state(failed)["state"] == "running" and with_shown_state(failed)["phase"] == "failed"
    down = row(state="failed", instances=Counts(running=0, desired=2))
    assert shown_state(down) == "failed"


def test_ago() -> None:
    assert [ago(None, 5), ago(0.0, 5), ago(100, 161), ago(0.5, 7300), ago(1, 3 * 86400)] == [
        "-", "-", "1m ago", "2h ago", "2d ago",
    ]  # fmt: skip


def test_the_last_error_column_leaves_out_a_providers_claim_about_what_serves() -> None:
    failed = row(state="failed", last_error="web: check did not pass; the previous version keeps serving")
    assert table([failed], now=1000.0)[1].endswith("web: check did not pass")
