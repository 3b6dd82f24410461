"""End to end: lines per second from real containers to `devloop logs` output.

Four instances of a small app each print 50,000 numbered lines, then idle.
devloop's way: one `devloop logs --recent -o raw` over all instances (the
provider's log streams, the multiplexer, the formatter, stdout). The naive
way, same containers, same run: `docker logs` of each container one after
the other (the data `docker logs -f` streams, without the wait at the end).
Both outputs are counted and checked complete. Run: python -m scripts.bench.logs_e2e
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import docker

from devloop.adapters import dockercli
from devloop.build.builder import ImageBuilder
from devloop.config.loader import load_project
from devloop.providers.docker.provider import DockerProvider
from scripts.bench.common import emit

INSTANCES, LINES = 4, 50_000
PRINTER = (
    "import sys, time\n"
    "out = sys.stdout\n"
    f"for i in range({LINES}):\n"
    "    out.write(f'line {i} of the benchmark, padded to a typical log line length\\n')\n"
    "out.flush()\n"
    "time.sleep(3600)\n"
)


def main() -> None:
    folder = Path(tempfile.mkdtemp(prefix="devloop-bench-logs-"))
    (folder / "Dockerfile").write_text(
        'FROM python:3.12-slim\nCOPY spam.py /spam.py\nUSER 10001\nCMD ["python3", "/spam.py"]\n'
    )
    (folder / "spam.py").write_text(PRINTER)
    (folder / "devloop.yaml").write_text(
        "version: 1\nprovider: docker\napps:\n"
        f"  - {{name: spam, path: ., instances: {INSTANCES}, no_route: true,\n"
        "     health_check: {type: process}}\n"
    )
    project = load_project(folder / "devloop.yaml", {}, None)
    app = project.apps[0]
    provider = DockerProvider(project)
    engine = docker.from_env()

    async def deploy() -> list[str]:
        image = (await ImageBuilder(dockercli.detect(), engine).build(app)).image
        await provider.deploy(app, image, lambda _t: None)
        change = await provider.instances(app)
        await provider.close()
        return [i.id for i in change.instances]

    ids = asyncio.run(deploy())
    try:
        expected = INSTANCES * LINES
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # every instance has printed everything
            done = [engine.api.logs(cid, tail=1).decode().strip() for cid in ids]
            if all(d.startswith(f"line {LINES - 1} ") for d in done):
                break
        started = time.perf_counter()
        ours = subprocess.run([sys.executable, "-m", "devloop", "logs", "--recent", "-o", "raw"],
                              cwd=folder, capture_output=True, text=True, check=True)  # fmt: skip
        devloop_s = time.perf_counter() - started
        ours_lines = sum(1 for line in ours.stdout.splitlines() if line.startswith("line "))
        client = dockercli.detect().path
        started = time.perf_counter()
        naive_lines = 0
        for cid in ids:
            out = subprocess.run([client, "logs", cid], capture_output=True, text=True, check=True)
            naive_lines += sum(1 for line in out.stdout.splitlines() if line.startswith("line "))
        naive_s = time.perf_counter() - started
        emit({
            "benchmark": "logs_e2e",
            "instances": INSTANCES,
            "lines": expected,
            "devloop_logs": {"seconds": round(devloop_s, 3), "lines": ours_lines,
                             "lines_per_s": round(ours_lines / devloop_s)},
            "docker_logs_each_container": {"seconds": round(naive_s, 3), "lines": naive_lines,
                                           "lines_per_s": round(naive_lines / naive_s)},
            "complete": ours_lines == expected == naive_lines,
        })  # fmt: skip
    finally:
        asyncio.run(provider.remove(None))
        engine.close()


if __name__ == "__main__":
    main()
