"""File watching: watches placed, start time, idle CPU, and burst batching.

Tree: 20,000 files in 2,000 folders, half of them under an ignored node_modules.
devloop's Watcher vs a plain recursive watchdog observer with ignore patterns,
same tree, same run. Then a burst of 1,000 writes: batches delivered and the
latency from the last write to the batch (target: under debounce + 50 ms).
Run: python -m scripts.bench.watch [--idle-seconds 10]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

from watchdog.events import PatternMatchingEventHandler
from watchdog.observers import Observer

from devloop.core.spec import AppSpec, BuildSpec, Language
from devloop.watch.inotify import count_inotify_watches
from devloop.watch.watcher import Watcher
from scripts.bench.common import emit

FOLDERS, FILES_PER_FOLDER, QUIET_S = 2000, 10, 0.2
BURST_WRITER = """
import sys, time
for path in sys.argv[1:]:
    with open(path, "w") as handle:
        handle.write("burst")
print(time.monotonic())
"""


def make_tree(root: Path) -> int:
    (root / "requirements.txt").write_text("")
    kept = 0
    for i in range(FOLDERS):
        under_modules = i % 2 == 1
        folder = root / ("node_modules" if under_modules else "src") / f"d{i // 40}" / f"f{i}"
        folder.mkdir(parents=True, exist_ok=True)
        for j in range(FILES_PER_FOLDER):
            (folder / f"m{j}.py").write_text("x = 1\n")
    # folders devloop must watch: root, src, src/dN, src/dN/fM
    kept = sum(1 for p in root.rglob("*") if p.is_dir() and "node_modules" not in p.parts)
    return kept + 1


async def idle_cpu(seconds: float) -> float:
    start = time.process_time()
    await asyncio.sleep(seconds)  # measuring idle time, not synchronising
    return time.process_time() - start


async def run(idle_seconds: float) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        expected = make_tree(root)
        app = AppSpec("bench", root, BuildSpec(root, language=Language.PYTHON))

        base = count_inotify_watches()
        t = time.perf_counter()
        watcher = Watcher([app], quiet_s=QUIET_S)
        await watcher.start()
        devloop_start = time.perf_counter() - t
        devloop_watches = count_inotify_watches() - base
        devloop_idle = await idle_cpu(idle_seconds)

        files = [
            root / "src" / f"d{(i % 1000) * 2 // 40}" / f"f{(i % 1000) * 2}" / f"burst{i}.py"
            for i in range(1000)
        ]
        # Another process writes, as an editor or `git checkout` would; CLOCK_MONOTONIC is system-wide.
        writer = await asyncio.create_subprocess_exec(
            sys.executable, "-c", BURST_WRITER, *map(str, files), stdout=asyncio.subprocess.PIPE
        )
        batch = await asyncio.wait_for(watcher.batches.get(), 10)
        delivered = time.monotonic()
        out, _ = await writer.communicate()
        latency = delivered - float(out)
        (root / "src" / "after.py").write_text("x")
        follow = await asyncio.wait_for(watcher.batches.get(), 10)
        await watcher.stop()

        base = count_inotify_watches()
        t = time.perf_counter()
        observer = Observer()
        handler = PatternMatchingEventHandler(ignore_patterns=["*/node_modules/*"], ignore_directories=True)
        observer.schedule(handler, str(root), recursive=True)
        observer.start()
        naive_start = time.perf_counter() - t
        naive_watches = count_inotify_watches() - base
        naive_idle = await idle_cpu(idle_seconds)
        observer.stop()
        observer.join()

    return {
        "benchmark": "file_watching",
        "tree": {"files": FOLDERS * FILES_PER_FOLDER, "folders": FOLDERS, "non_ignored_folders": expected},
        "devloop": {
            "watches": devloop_watches,
            "start_ms": round(devloop_start * 1000, 1),
            "idle_cpu_s": round(devloop_idle, 3),
        },
        "naive_recursive_watchdog": {
            "watches": naive_watches,
            "start_ms": round(naive_start * 1000, 1),
            "idle_cpu_s": round(naive_idle, 3),
        },
        "idle_seconds": idle_seconds,
        "burst": {
            "writes": len(files),
            "files_in_first_batch": len(batch.files),
            "exactly_one_batch": len(batch.files) == len(files) and follow.files == {"src/after.py"},
            "latency_after_last_write_ms": round(latency * 1000, 1),
            "target_ms": round((QUIET_S + 0.05) * 1000),
            "meets_target": latency < QUIET_S + 0.05,
        },
        "watches_equal_non_ignored_folders": devloop_watches == expected,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--idle-seconds", type=float, default=10.0)
    emit(asyncio.run(run(parser.parse_args().idle_seconds)))


if __name__ == "__main__":
    main()
