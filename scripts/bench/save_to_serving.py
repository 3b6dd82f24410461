"""Save-to-serving: edit the sample's response, poll its URL until the new one is served.

(a) devloop's rebuild path (no sync rules), (b) devloop's sync path (the sample's
sync rule + SIGHUP reload), (c) the naive loop in the same run: raw
`docker build`, `docker rm -f`, `docker run`, poll. Targets: rebuild at most the
naive loop's median and under 3 s; sync under 1 s.
Run: python -m scripts.bench.save_to_serving [--edits 10]   (needs Docker and base images)
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import docker

from devloop.adapters import dockercli
from devloop.build.builder import print_dockerfile
from devloop.config.loader import load_project
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
            # the deploy finished and the old instances are gone.
            proc.wait_for(settled, start=mark)
            while len(engine.api.containers(all=True, filters={"label": label})) > 2:
                time.sleep(0.02)
        proc.interrupt()
        return samples
    finally:
        proc.kill()
        engine.close()


def measure_naive(folder: Path, edits: int) -> list[float]:
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
            subprocess.run([client.path, "rm", "-f", name], capture_output=True, check=False)
            publish = f"127.0.0.1:{port}:8080"
            run = [client.path, "run", "-d", "--name", name, "-e", "PORT=8080", "-p", publish]
            subprocess.run([*run, "bench-naive:dev"], check=True, capture_output=True)
            wait_for(url, marker)
            samples.append(time.monotonic() - started)
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
        sync = measure_devloop(sync_dir, edits, "sync")
        naive = measure_naive(naive_dir, edits)
    r, s, n = summary(rebuild), summary(sync), summary(naive)
    emit(
        {
            "benchmark": "save_to_serving",
            "sample": "samples/python-web (2 instances)",
            "rebuild_path": r,
            "sync_path": s,
            "naive_build_rm_run": n,
            "targets": {"rebuild_median_ms_max": min(3000, n["median_ms"]), "sync_median_ms_max": 1000},
            "meets_targets": (
                r["median_ms"] <= n["median_ms"] and r["median_ms"] < 3000 and s["median_ms"] < 1000
            ),
            "python": sys.version.split()[0],
        }
    )


if __name__ == "__main__":
    main()
