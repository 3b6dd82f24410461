"""Rebuild after a one-line change of a small Python app: devloop vs raw `docker build`.

Both build the same context with the same Dockerfile (the one devloop generates,
written into the context) and the same docker client, alternating, each after
its own one-line edit. Target: devloop's median overhead under 10%.
Also reports devloop's generated-Dockerfile path (context sent as a tar on stdin).
Run: python -m scripts.bench.build_rebuild   (needs Docker and the base images)
"""

from __future__ import annotations

import asyncio
import shutil
import statistics
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import docker

from devloop.adapters import dockercli
from devloop.build.builder import ImageBuilder, print_dockerfile
from devloop.config.loader import load_project
from scripts.bench.common import emit, summary

SAMPLE = Path(__file__).resolve().parents[2] / "samples" / "python-web"
ROUNDS = 10


def edit(app_py: Path) -> None:
    lines = app_py.read_text().splitlines()
    lines = [line for line in lines if not line.startswith("# bench ")]
    app_py.write_text("\n".join([*lines, f"# bench {uuid.uuid4()}"]) + "\n")


def main() -> None:
    client = dockercli.detect()
    engine = docker.from_env()
    with tempfile.TemporaryDirectory() as tmp:
        generated = Path(tmp) / "generated"
        shutil.copytree(SAMPLE, generated)
        own = Path(tmp) / "own"
        shutil.copytree(SAMPLE, own)
        gen_app = load_project(generated / "devloop.yaml", {}).apps[0]
        (own / "Dockerfile").write_text(print_dockerfile(gen_app))
        own_app = load_project(own / "devloop.yaml", {}).apps[0]
        builder = ImageBuilder(client, engine)
        asyncio.run(builder.build(own_app))  # warm the layer cache
        asyncio.run(builder.build(gen_app))
        devloop_s, raw_s, generated_s = [], [], []
        for i in range(ROUNDS):
            edit(own / "app.py")
            t = time.perf_counter()
            result = asyncio.run(builder.build(own_app))
            devloop_s.append(time.perf_counter() - t)
            assert not result.skipped
            edit(own / "app.py")
            t = time.perf_counter()
            subprocess.run(
                [*client.build_argv(), "-t", f"bench-raw:{i}", "-f", str(own / "Dockerfile"), str(own)],
                env=client.build_env(),
                check=True,
                capture_output=True,
            )
            raw_s.append(time.perf_counter() - t)
            edit(generated / "app.py")
            t = time.perf_counter()
            asyncio.run(builder.build(gen_app))
            generated_s.append(time.perf_counter() - t)
        for i in range(ROUNDS):
            subprocess.run([client.path, "rmi", "-f", f"bench-raw:{i}"], capture_output=True, check=False)
    overhead = statistics.median(devloop_s) / statistics.median(raw_s) - 1
    emit(
        {
            "benchmark": "rebuild_after_one_line_change",
            "docker_client": f"{client.path} {client.version_text} ({client.builder.value})",
            "devloop_own_dockerfile": summary(devloop_s),
            "raw_docker_build": summary(raw_s),
            "devloop_generated_dockerfile": summary(generated_s),
            "overhead_pct": round(overhead * 100, 1),
            "target_overhead_pct": 10,
            "meets_target": overhead < 0.10,
        }
    )


if __name__ == "__main__":
    main()
