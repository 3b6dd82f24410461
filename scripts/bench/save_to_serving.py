"""Save-to-serving: edit the sample's response, poll its URL until the new one is served.

(a) devloop's rebuild path (no sync rules), (b) devloop's sync path (the sample's
sync rule + SIGHUP reload), (c) the naive loop in the same run: raw
`docker build`, `docker rm -f`, `docker run`, poll. Each path says where its time goes:
devloop's stages come from its own timeline (`devloop events --json`, `stages_ms`: debounce,
build, start, healthy, routed; or list, read, copy and signal, serving), the naive loop's from
timing its commands. Targets: rebuild faster than the naive loop (ratio below 1), sync median
under 150 ms.
Run: python -m scripts.bench.save_to_serving [--edits 10]   (needs Docker and base images)
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import docker

from devloop.adapters import dockercli
from devloop.build.builder import print_dockerfile
from devloop.config.loader import load_project
from devloop.engine.recorder import event_journal
from devloop.fs import state_home
from devloop.providers.shared import project_id
from devloop.router.net import free_port
from scripts.bench.common import emit, summary
from tests.devloop_process import DevloopProcess
from tests.helpers import http_get

SAMPLE = Path(__file__).resolve().parents[2] / "samples" / "python-web"
# Every poll of devloop's URL is a real request served by the old version until the new one
# is up; at 100 polls/s that load competes for the 2 cores with the deploy being measured.
POLL_S = 0.01


def fetch(url: str) -> str:
    """The body at `url`; names under .localhost go to 127.0.0.1 with their Host header, as
    browsers and curl send them (the system resolver here does not know *.localhost)."""
    return http_get(url, timeout=1) or ""


def edit(folder: Path, greeting: str) -> None:
    app = folder / "app.py"
    lines = app.read_text().splitlines()
    lines = [f'GREETING = "{greeting}"' if line.startswith("GREETING = ") else line for line in lines]
    app.write_text("\n".join(lines) + "\n")


def wait_for(url: str, text: str, timeout: float = 60) -> float:
    start = time.monotonic()
    while text not in fetch(url):
        if time.monotonic() - start > timeout:
            raise TimeoutError(f"{url} never served {text!r}")
        time.sleep(POLL_S)  # polling interval of the measurement, the same for every loop
    return time.monotonic() - start


def stage_medians(runs: list[dict[str, float]]) -> dict[str, float]:
    """The median of each stage over the runs, in the order the stages happen."""
    names = list(dict.fromkeys(stage for run in runs for stage in run))
    return {name: round(statistics.median(run.get(name, 0.0) for run in runs), 1) for name in names}


def devloop_stages(folder: Path, edits: int) -> dict[str, float]:
    """devloop's own account of the last `edits` saves (its timeline on disk)."""
    journal = event_journal(state_home(), project_id(folder / "devloop.yaml"))
    timed = [dict(e.stages) for e in journal.records() if e.stages]
    return stage_medians(timed[-edits:])


def idle(engine: docker.DockerClient, label: str, network: str) -> bool:
    """Two instances, and two sandboxes parked off the project's network."""
    found = engine.api.containers(all=True, filters={"label": label})
    instances = [c for c in found if "devloop.app" in c["Labels"] and "devloop.sandbox" not in c["Labels"]]
    parked = [
        c for c in found
        if "devloop.sandbox" in c["Labels"] and network not in c["NetworkSettings"]["Networks"]
    ]  # fmt: skip
    return len(instances) <= 2 and len(parked) == 2


def measure_devloop(folder: Path, edits: int, label: str) -> list[float]:
    engine = docker.from_env()
    label = f"devloop.project={project_id(folder / 'devloop.yaml')}"
    proc = DevloopProcess("up", "--no-tui", "--down-on-exit", cwd=folder)
    try:
        url = proc.wait_for(r"^web: (http://\S+)$").group(1)
        samples = []
        settled = r"^\[API\] web \| (running devloop/web:|synced into)"
        for i in range(edits):
            marker = f"{label}-{i}-{time.time_ns()}"
            mark = len(proc.lines)
            started = time.monotonic()
            edit(folder, marker)
            wait_for(url, marker)
            samples.append(time.monotonic() - started)
            # Start the next edit from idle, as the naive loop's iterations do (not timed):
            # the deploy finished, the old instances are gone and the next deploy's sandboxes
            # are parked (devloop makes them between deploys: see providers/docker/sandboxes.py).
            proc.wait_for(settled, start=mark)
            idle_by = time.monotonic() + 30
            network = f"devloop-{label.partition('=')[2]}"
            while not idle(engine, label, network):
                if time.monotonic() > idle_by:
                    raise TimeoutError("devloop never settled: two instances and two parked sandboxes")
                time.sleep(0.02)
        proc.interrupt()
        return samples
    finally:
        proc.kill()
        engine.close()


def measure_naive(folder: Path, edits: int, stages: list[dict[str, float]]) -> list[float]:
    client = dockercli.detect()
    app = load_project(folder / "devloop.yaml", {}).apps[0]
    (folder / "Dockerfile").write_text(print_dockerfile(app))
    port = free_port(18080)
    url = f"http://127.0.0.1:{port}/"
    name = f"bench-naive-{port}"
    samples = []
    try:
        for i in range(edits):
            marker = f"naive-{i}-{time.time_ns()}"
            started = time.monotonic()
            edit(folder, marker)
            subprocess.run([*client.build_argv(), "-q", "-t", "bench-naive:dev", str(folder)],
                           env=client.build_env(), check=True, capture_output=True)  # fmt: skip
            built = time.monotonic()
            subprocess.run([client.path, "rm", "-f", name], capture_output=True, check=False)
            removed = time.monotonic()
            publish = f"127.0.0.1:{port}:8080"
            run = [client.path, "run", "-d", "--name", name, "-e", "PORT=8080", "-p", publish]
            subprocess.run([*run, "bench-naive:dev"], check=True, capture_output=True)
            ran = time.monotonic()
            wait_for(url, marker)
            samples.append(time.monotonic() - started)
            answered = started + samples[-1]
            stages.append({"build": (built - started) * 1000, "rm -f": (removed - built) * 1000,
                           "run": (ran - removed) * 1000, "first answer": (answered - ran) * 1000})
    finally:
        subprocess.run([client.path, "rm", "-f", name], capture_output=True, check=False)
        subprocess.run([client.path, "rmi", "-f", "bench-naive:dev"], capture_output=True, check=False)
    return samples


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--edits", type=int, default=10)
    edits = parser.parse_args().edits
    with tempfile.TemporaryDirectory() as tmp:
        rebuild_dir, sync_dir, naive_dir = (Path(tmp) / n for n in ("rebuild", "sync", "naive"))
        for folder in (rebuild_dir, sync_dir, naive_dir):
            shutil.copytree(SAMPLE, folder)
        config = (rebuild_dir / "devloop.yaml").read_text()
        (rebuild_dir / "devloop.yaml").write_text(config.split("    # Python files")[0])
        rebuild = measure_devloop(rebuild_dir, edits, "rebuild")
        rebuild_stages = devloop_stages(rebuild_dir, edits)
        sync = measure_devloop(sync_dir, edits, "sync")
        sync_stages = devloop_stages(sync_dir, edits)
        naive_runs: list[dict[str, float]] = []
        naive = measure_naive(naive_dir, edits, naive_runs)
    r, s, n = summary(rebuild), summary(sync), summary(naive)
    ratio = round(r["median_ms"] / n["median_ms"], 3)
    emit(
        {
            "benchmark": "save_to_serving",
            "sample": "samples/python-web (2 instances)",
            "rebuild_path": {**r, "stages_median_ms": rebuild_stages},
            "sync_path": {**s, "stages_median_ms": sync_stages},
            "naive_build_rm_run": {**n, "stages_median_ms": stage_medians(naive_runs)},
            "rebuild_to_naive_ratio": ratio,
            "targets": {"rebuild_to_naive_ratio_max": 1.0, "sync_median_ms_max": 150},
            "meets_targets": ratio < 1.0 and s["median_ms"] < 150,
            "python": sys.version.split()[0],
        }
    )


if __name__ == "__main__":
    main()
