"""One status shape for an app, built from the engine's state or a provider's snapshot, read by
`devloop status` (table and JSON), the control socket and the dashboard.

The engine reports its phase; an app whose new version failed while the old one still serves
is `running` here, with the failure in its last-error column (cf shows a running app too).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, cast

from devloop.core.events import InstanceStatus
from devloop.core.processes import process_summary
from devloop.core.spec import AppSpec
from devloop.core.wording import without_serving_claim

if TYPE_CHECKING:  # the engine's state, only read here: `devloop status` with no `up` needs none
    from devloop.core.state import AppState

HEADER = ("name", "state", "instances", "memory limit", "last deploy", "url", "last error")
WIDTHS = (16, 10, 10, 13, 12)


@dataclass(frozen=True)
class Counts:
    """Running and desired instances of the web process."""

    running: int
    desired: int


@dataclass(frozen=True)
class ProcessCounts:
    """One process type besides web, as `cf app` lists it."""

    running: int
    desired: int
    state: str
    memory: str | None = None


@dataclass(frozen=True)
class InstanceRow:
    """One instance (or a sidecar beside one) in the status."""

    index: int
    state: str
    address: str | None = None
    restarts: int = 0
    process: str = "web"
    sidecar: str = ""
    debug: str = ""  # under a debugger: its tool (debugpy, inspector, ...)
    debug_address: str | None = None  # 127.0.0.1:PORT a debugger attaches to


@dataclass(frozen=True)
class AppStatus:
    """One app's status; its field names are the keys of `devloop status --json`."""

    name: str
    state: str  # the engine's phase (`running`, `failed`...); `shown_state` is what users read
    instances: Counts
    processes: dict[str, ProcessCounts] = field(default_factory=dict)
    memory_mb: int | None = None
    url: str | None = None
    image: str | None = None
    last_deploy_at: float | None = None
    last_error: str | None = None
    instance_list: tuple[InstanceRow, ...] = ()
    address: str | None = None  # http://127.0.0.1:PORT, for clients that do not resolve *.localhost


def _processes(spec: AppSpec, instances: tuple[InstanceStatus, ...]) -> dict[str, ProcessCounts]:
    return {
        name: ProcessCounts(
            running=cast(int, counts["running"]),
            desired=cast(int, counts["desired"]),
            state=cast(str, counts["state"]),
            memory=cast("str | None", counts["memory"]),
        )
        for name, counts in process_summary(spec, instances).items()
    }


def _rows(instances: tuple[InstanceStatus, ...]) -> tuple[InstanceRow, ...]:
    return tuple(
        InstanceRow(i.index, i.state, i.address, i.restarts, i.process, i.sidecar, i.debug, i.debug_address)
        for i in instances
    )


def debug_cell(row: AppStatus) -> str:
    """`0 127.0.0.1:PORT` per debugged instance (the dashboard's debug column); `-` for none."""
    cells = [f"{i.index} {i.debug_address}" for i in row.instance_list if i.debug_address and not i.sidecar]
    return " ".join(cells) if cells else "-"


def app_status(app: AppState) -> AppStatus:
    """What a running `devloop up` knows of an app."""
    return AppStatus(
        name=app.spec.name,
        state=app.phase.value,
        instances=Counts(app.running, app.spec.instances),
        processes=_processes(app.spec, app.instances),
        memory_mb=app.spec.memory_mb,
        url=app.url,
        address=app.address,
        image=app.deployed_image,
        last_deploy_at=app.last_deploy_at,
        last_error=app.last_error,
        instance_list=_rows(app.instances),
    )


def snapshot_status(spec: AppSpec, instances: tuple[InstanceStatus, ...]) -> AppStatus:
    """What the provider has running for an app while no `devloop up` runs: running or stopped."""
    running = sum(1 for i in instances if i.is_web and i.state == "running")
    return AppStatus(
        name=spec.name,
        state="running" if running else "stopped",
        instances=Counts(running, spec.instances),
        processes=_processes(spec, instances),
        memory_mb=spec.memory_mb,
        instance_list=_rows(instances),
    )


def shown_state(row: AppStatus) -> str:
    """`running` while instances serve, even after a failed build or deploy; else the phase."""
    if row.state == "failed" and row.instances.running > 0:
        return "running"
    return row.state


def ago(at: float | None, now: float) -> str:
    """`12s ago`, `5m ago`, `3h ago`, `2d ago`; `-` for never."""
    if not at:
        return "-"
    seconds = max(0, int(now - at))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit} ago"
    return f"{seconds}s ago"


def last_error(row: AppStatus, width: int = 70) -> str:
    text = (row.last_error or "").strip().splitlines()
    if not text:
        return "-"
    first = without_serving_claim(text[0])  # the state column says what serves
    return first if len(first) <= width else first[: width - 1] + "…"


def with_shown_state(row: AppStatus) -> dict[str, object]:
    """The row as JSON gives it: `state` as the table shows it, the engine's own in `phase`."""
    return {**asdict(row), "phase": row.state, "state": shown_state(row)}


def table(rows: Sequence[AppStatus], now: float, unrouted: frozenset[str] = frozenset()) -> list[str]:
    """The `devloop status` lines: one per app, one more per process type."""

    def line(cells: tuple[str, ...]) -> str:
        fixed = "".join(f"{cell:<{width}} " for cell, width in zip(cells, WIDTHS, strict=False))
        return (fixed + " ".join(cells[len(WIDTHS) :])).rstrip()

    lines = [line(HEADER)]
    for row in rows:
        count = f"{row.instances.running}/{row.instances.desired}"
        memory = f"{row.memory_mb}M" if row.memory_mb else "-"
        where = (
            "-"
            if row.name in unrouted
            else row.url or " ".join(f"http://{i.address}" for i in row.instance_list if i.address) or "-"
        )
        lines.append(
            line(
                (
                    row.name,
                    shown_state(row),
                    count,
                    memory,
                    ago(row.last_deploy_at, now),
                    where,
                    last_error(row),
                )
            )
        )
        for process, counts in row.processes.items():
            shown = f"{counts.running}/{counts.desired}"
            lines.append(line((f"  {process}", counts.state, shown, counts.memory or "")))
    return lines
