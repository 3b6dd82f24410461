"""The dashboard under a log flood: lines per second kept up with, key-to-screen latency, memory.

5,000 lines/s arrive (in 50 ms chunks) for a few seconds while `f` is pressed
now and then; latency is from the key press until the status line shows its
effect. Side by side, same run: the naive pane, `RichLog.write` per line.
Run: python -m scripts.bench.tui [--seconds 4]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from typing import Any, ClassVar

from textual import events
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.widgets import RichLog, Static

from devloop.core.logbuffer import LogLine
from devloop.ui.app import DevloopApp
from scripts.bench.common import emit
from tests.ui.fake_engine import FakeEngine, spec

RATE = 5000
CHUNK_S = 0.05


class NaiveApp(App[None]):
    """A RichLog written once per line as each line arrives: what devloop avoids."""

    BINDINGS: ClassVar = [Binding("f", "toggle", "toggle")]

    def __init__(self, engine: FakeEngine) -> None:
        super().__init__()
        self.follow = True
        engine.logs.subscribe(self._line)

    def compose(self) -> ComposeResult:
        yield RichLog(id="log")
        yield Static("following", id="status")

    def _line(self, line: LogLine) -> None:
        self.query_one("#log", RichLog).write(f"[{line.tag}] {line.app} | {line.text}")

    def action_toggle(self) -> None:
        self.follow = not self.follow
        self.query_one("#status", Static).update("following" if self.follow else "paused")


def rss_mb() -> float:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * 4096 / 1e6


def status_text(app: Any) -> str:
    return str(app.query_one("#status").render())


async def flood(app: Any, engine: FakeEngine, seconds: float) -> dict[str, Any]:
    rss_before = rss_mb()
    latencies: list[float] = []
    sent = 0
    async with app.run_test(size=(120, 36)) as pilot:
        start = time.perf_counter()

        async def produce() -> None:
            """RATE lines per second in CHUNK_S chunks, on a fixed schedule, whatever the UI does."""
            nonlocal sent
            chunk = int(RATE * CHUNK_S)
            due = time.perf_counter()
            while time.perf_counter() - start < seconds:
                for _ in range(chunk):
                    text = f"GET /items/{sent} 200 in 3ms"
                    engine.logs.add(LogLine("web", "APP", text, sent % 4, f"c{sent % 4}"))
                    sent += 1
                due += CHUNK_S
                await asyncio.sleep(max(0.0, due - time.perf_counter()))

        producer = asyncio.create_task(produce())
        await asyncio.sleep(0.5)
        while not producer.done():
            before = status_text(app)
            pressed = time.perf_counter()
            app.post_message(events.Key("f", "f"))  # as the terminal driver delivers a key press
            while status_text(app) == before:
                await asyncio.sleep(0.001)
            latencies.append(time.perf_counter() - pressed)
            await asyncio.sleep(0.25)
        await producer
        elapsed = time.perf_counter() - start
        backlog_start = time.perf_counter()
        await pilot.pause()
        drain_s = time.perf_counter() - backlog_start
    return {
        "lines_sent": sent,
        "offered_lines_per_s": RATE,
        "sustained_lines_per_s": round(sent / elapsed),
        "kept_up": sent / elapsed >= RATE * 0.95,
        "backlog_drain_ms": round(drain_s * 1000, 1),
        "key_latency_ms": {
            "median": round(statistics.median(latencies) * 1000, 1),
            "max": round(max(latencies) * 1000, 1),
            "n": len(latencies),
        },
        "rss_growth_mb": round(rss_mb() - rss_before, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=4.0)
    seconds = parser.parse_args().seconds
    engine = FakeEngine((spec("web", instances=4),))
    engine.running("web")
    devloop = asyncio.run(flood(DevloopApp(engine), engine, seconds))
    naive_engine = FakeEngine((spec("web", instances=4),))
    naive = asyncio.run(flood(NaiveApp(naive_engine), naive_engine, seconds))
    emit(
        {
            "benchmark": "tui_log_flood",
            "devloop_batched_line_view": devloop,
            "naive_richlog_write_per_line": naive,
            "target": "keep up with 5,000 lines/s, key to screen under 100 ms, bounded memory",
            "latency_note": "from posting the key until the status widget holds the change; paint follows",
            "meets_target": devloop["kept_up"] and devloop["key_latency_ms"]["median"] < 100,
        }
    )


if __name__ == "__main__":
    main()
