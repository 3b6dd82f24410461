"""One-shot commands, whole process (target: median under 300 ms each).

devloop: `devloop --help`, `devloop validate`, `devloop status` and `devloop logs --recent` (no
`up` running) and `devloop build` of an image that is up to date (built once before the timing) in
a copy of samples/python-web, each a fresh `python -m devloop` process that must exit 0. These
find the loaded config kept (devloop.config.cache, filled by the first of the runs); the
`*_config_loaded` entries are the same commands with the cache off (DEVLOOP_CONFIG_CACHE=0), as
the first command after an edit of anything the config reads runs.
Naive, same run: the same interpreter importing everything the CLI can reach (the dashboard,
the Docker SDK, kr8s, both providers) before doing nothing, which is what an eager CLI pays on
every command. The floor: `python -c pass`.
Run: python -m scripts.bench.cli_startup
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from scripts.bench.common import emit, summary

ROUNDS = 15
ROOT = Path(__file__).resolve().parents[2]
EAGER = (
    "import devloop.cli, devloop.ui.app, docker, kr8s, "
    "devloop.providers.docker.provider, devloop.providers.kind.provider, devloop.engine.loop"
)


def timed(argv: list[str], cwd: Path, env: dict[str, str] | None = None) -> float:
    start = time.perf_counter()
    done = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, check=False, env=env)
    took = time.perf_counter() - start
    if done.returncode != 0:  # a fast failure is no startup time
        raise SystemExit(f"{' '.join(argv[2:])} exited {done.returncode}: {done.stderr.strip()[-500:]}")
    return took


def median_of(argv: list[str], cwd: Path, env: dict[str, str] | None = None) -> dict[str, float]:
    timed(argv, cwd, env)  # a warm page cache for every variant alike (and, for build, the image)
    return summary([timed(argv, cwd, env) for _ in range(ROUNDS)])


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        app = Path(tmp) / "python-web"
        shutil.copytree(ROOT / "samples" / "python-web", app)
        devloop = [sys.executable, "-m", "devloop"]
        os.environ["XDG_CACHE_HOME"] = str(Path(tmp) / "cache")  # devloop's caches: this run's own
        uncached = {**os.environ, "DEVLOOP_CONFIG_CACHE": "0"}
        subprocess.run([*devloop, "build"], cwd=app, capture_output=True, check=True)  # the image, once
        again = subprocess.run([*devloop, "build"], cwd=app, capture_output=True, text=True, check=True)
        if "up to date" not in again.stdout + again.stderr:
            raise SystemExit(f"the second build was no up-to-date check: {again.stdout[-500:]}")
        commands = {
            "help": median_of([*devloop, "--help"], app),
            "validate": median_of([*devloop, "validate"], app),
            "status": median_of([*devloop, "status"], app),
            "logs_recent": median_of([*devloop, "logs", "--recent"], app),
            "build_up_to_date": median_of([*devloop, "build"], app),
            "validate_config_loaded": median_of([*devloop, "validate"], app, uncached),
            "status_config_loaded": median_of([*devloop, "status"], app, uncached),
            "logs_recent_config_loaded": median_of([*devloop, "logs", "--recent"], app, uncached),
            "build_up_to_date_config_loaded": median_of([*devloop, "build"], app, uncached),
        }
        naive = median_of([sys.executable, "-c", EAGER], app)
        floor = median_of([sys.executable, "-c", "pass"], app)
    emit({
        "benchmark": "cli_startup",
        "target_median_ms": 300,
        "devloop": commands,
        "naive_eager_imports": naive,
        "python_floor": floor,
        "ratio_vs_naive": {n: round(s["median_ms"] / naive["median_ms"], 3) for n, s in commands.items()},
    })  # fmt: skip


if __name__ == "__main__":
    main()
