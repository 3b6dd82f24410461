"""One status row for `devloop status` (table and JSON): the state a user should read, and the table.

The engine reports its phase; an app whose new version failed while the old one still serves
is `running` here, with the failure in its last-error column (cf shows a running app too).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from devloop.core.wording import without_serving_claim

HEADER = ("name", "state", "instances", "memory limit", "last deploy", "url", "last error")
WIDTHS = (16, 10, 10, 13, 12)


def shown_state(row: Mapping[str, Any]) -> str:
    """`running` while instances serve, even after a failed build or deploy; else the phase."""
    state = str(row.get("state") or "")
    if state == "failed" and (row.get("instances") or {}).get("running", 0) > 0:
        return "running"
    return state


def ago(at: float | None, now: float) -> str:
    """`12s ago`, `5m ago`, `3h ago`, `2d ago`; `-` for never."""
    if not at:
        return "-"
    seconds = max(0, int(now - at))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit} ago"
    return f"{seconds}s ago"


def last_error(row: Mapping[str, Any], width: int = 70) -> str:
    text = str(row.get("last_error") or "").strip().splitlines()
    if not text:
        return "-"
    first = without_serving_claim(text[0])  # the state column says what serves
    return first if len(first) <= width else first[: width - 1] + "…"


def with_shown_state(row: Mapping[str, Any]) -> dict[str, Any]:
    """The row as JSON gives it: `state` as the table shows it, the engine's own in `phase`."""
    return {**row, "phase": row.get("state"), "state": shown_state(row)}


def table(rows: Sequence[Mapping[str, Any]], now: float, unrouted: frozenset[str] = frozenset()) -> list[str]:
    """The `devloop status` lines: one per app, one more per process type."""

    def line(cells: tuple[str, ...]) -> str:
        fixed = "".join(f"{cell:<{width}} " for cell, width in zip(cells, WIDTHS, strict=False))
        return (fixed + " ".join(cells[len(WIDTHS) :])).rstrip()

    lines = [line(HEADER)]
    for row in rows:
        count = f"{row['instances']['running']}/{row['instances']['desired']}"
        memory = f"{row['memory_mb']}M" if row.get("memory_mb") else "-"
        where = (
            "-"
            if row["name"] in unrouted
            else row.get("url")
            or " ".join(f"http://{i['address']}" for i in row.get("instance_list", []) if i.get("address"))
            or "-"
        )
        lines.append(
            line(
                (
                    row["name"],
                    shown_state(row),
                    count,
                    memory,
                    ago(row.get("last_deploy_at"), now),
                    where,
                    last_error(row),
                )
            )
        )
        for process, counts in (row.get("processes") or {}).items():
            shown = f"{counts['running']}/{counts['desired']}"
            lines.append(line((f"  {process}", counts["state"], shown, counts.get("memory") or "")))
    return lines
