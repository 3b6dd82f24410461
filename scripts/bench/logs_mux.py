"""Log multiplexer throughput and memory: 50 instances writing at once, 1,000,000 lines.

Lines come from an in-memory provider (no Docker: this measures devloop's own
path: tail tasks -> LogMux -> bounded LogBuffer). Targets: at least 100,000
lines/s on one core, and memory bounded by the buffer (10,000 lines per app).
The naive way in the same run: the same lines kept in an unbounded list.
Run: python -m scripts.bench.logs_mux
"""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import AsyncIterator

from devloop.core.events import InstancesChanged, InstanceStatus
from devloop.core.logbuffer import LogBuffer, LogLine
from devloop.engine.logmux import LogMux
from scripts.bench.common import emit

INSTANCES, TOTAL, BATCH = 50, 1_000_000, 500


def rss_mb() -> float:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * 4096 / 1e6


class MemoryProvider:
    """Each instance emits its share of lines in batches, yielding to the loop between batches."""

    def __init__(self, per_instance: int) -> None:
        self.per_instance = per_instance

    async def tail(
        self, instance: InstanceStatus, since_ns: int | None, **_: object
    ) -> AsyncIterator[LogLine]:
        base = 1_700_000_000_000_000_000
        app, index, cid = instance.app, instance.index, instance.id
        for start in range(0, self.per_instance, BATCH):
            for i in range(start, min(start + BATCH, self.per_instance)):
                yield LogLine(app, "APP", f"GET /items/{i} 200 in 3ms", index, cid, base + i)
            await asyncio.sleep(0)


async def through_mux(sink: LogBuffer) -> float:
    provider = MemoryProvider(TOTAL // INSTANCES)
    mux = LogMux(provider, sink)  # type: ignore[arg-type]
    done = asyncio.Event()
    counted = [0]

    def count(_line: LogLine) -> None:
        counted[0] += 1
        if counted[0] == TOTAL:
            done.set()

    sink.subscribe(count)
    instances = tuple(InstanceStatus(f"app{i % 5}", i, f"c{i}", "exited") for i in range(INSTANCES))
    started = time.perf_counter()
    for instance in instances:  # exited: tails are not restarted after their stream ends
        mux._start(instance)
    mux.on_instances(InstancesChanged("app0", ()))
    await done.wait()
    elapsed = time.perf_counter() - started
    await mux.close()
    return elapsed


def main() -> None:
    gc.collect()
    before = rss_mb()
    bounded = LogBuffer(per_app=10_000)
    elapsed = asyncio.run(through_mux(bounded))
    gc.collect()
    bounded_growth = rss_mb() - before
    kept = len(bounded)

    class Unbounded(LogBuffer):
        def __init__(self) -> None:
            super().__init__()
            self.all: list[LogLine] = []

        def add(self, line: LogLine) -> None:
            self.all.append(line)
            for callback in self._subscribers:
                callback(line)

    before = rss_mb()
    naive = Unbounded()
    naive_elapsed = asyncio.run(through_mux(naive))
    gc.collect()
    naive_growth = rss_mb() - before
    emit(
        {
            "benchmark": "log_multiplexer",
            "instances": INSTANCES,
            "lines": TOTAL,
            "devloop_bounded_buffer": {
                "lines_per_s": round(TOTAL / elapsed),
                "lines_kept": kept,
                "rss_growth_mb": round(bounded_growth, 1),
            },
            "naive_unbounded_list": {
                "lines_per_s": round(TOTAL / naive_elapsed),
                "lines_kept": len(naive.all),
                "rss_growth_mb": round(naive_growth, 1),
            },
            "target_lines_per_s": 100_000,
            "meets_target": TOTAL / elapsed >= 100_000 and kept == 50_000,
        }
    )


if __name__ == "__main__":
    main()
