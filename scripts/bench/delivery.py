"""Image delivery after a one-line change: registry push (only the changed layer travels) vs a
`docker save`-style whole-image transfer of the same image, side by side in one run.

Each round edits the bench app's server.py, builds it, then (a) pushes it the way devloop
delivers to a cluster's registry (devloop.adapters.registry.push, into Debian's
docker-registry on loopback, as the tests run it) and (b) writes `docker image save` of the
same image to a file: what `kind load docker-image`, `k3d image import` and
`minikube image load` start with, before the node even reads it (so (b) is a lower bound of
those paths). Bytes: what the registry's blob store grew by vs the archive's size.
Run: python -m scripts.bench.delivery [--rounds 5]   (needs Docker, docker-registry, base images)
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from devloop.adapters import dockercli, dockersdk
from devloop.adapters import registry as registry_push
from scripts.bench.common import emit, summary
from tests.registry import running_registry

APP = Path(__file__).resolve().parent / "app"


def tree_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) if folder.exists() else 0


def edit(server: Path, round_: int) -> None:
    lines = [line for line in server.read_text().splitlines() if not line.startswith("# bench ")]
    server.write_text("\n".join([*lines, f"# bench edit {round_}"]) + "\n")


def build(client: dockercli.DockerClient, context: Path, tag: str) -> None:
    subprocess.run([*client.build_argv(), "-t", tag, str(context)], env=client.build_env(),
                   check=True, capture_output=True)  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    rounds = parser.parse_args().rounds
    client = dockercli.detect()
    engine = dockersdk.open_engine(timeout=120)
    tags: list[str] = []
    pushed_as = ""
    push_s, save_s, pushed_bytes, saved_bytes, layers = [], [], [], [], []
    try:
        with tempfile.TemporaryDirectory() as tmp, running_registry(Path(tmp)) as registry:
            context = Path(tmp) / "app"
            shutil.copytree(APP, context)
            blobs, pushed_as = Path(tmp) / "blobs", registry
            tags.append("bench-delivery/app:warm")
            build(client, context, tags[-1])  # the base layers reach the registry once, before timing
            asyncio.run(registry_push.push(engine, tags[-1], registry, lambda _line: None))
            for i in range(rounds):
                edit(context / "server.py", i)
                tags.append(f"bench-delivery/app:r{i}")
                build(client, context, tags[-1])
                before = tree_bytes(blobs)
                said: list[str] = []
                t = time.perf_counter()
                asyncio.run(registry_push.push(engine, tags[-1], registry, said.append))
                push_s.append(time.perf_counter() - t)
                pushed_bytes.append(tree_bytes(blobs) - before)
                found = re.search(r"\((\d+) new layer", said[-1])
                layers.append(int(found[1]) if found else -1)
                archive = Path(tmp) / "image.tar"
                t = time.perf_counter()
                subprocess.run([client.path, "image", "save", "-o", str(archive), tags[-1]],
                               check=True, capture_output=True)  # fmt: skip
                save_s.append(time.perf_counter() - t)
                saved_bytes.append(archive.stat().st_size)
                os.unlink(archive)
    finally:
        pushed = [f"{pushed_as}/{tag}" for tag in tags] if pushed_as else []
        subprocess.run([client.path, "rmi", "-f", *tags, *pushed], capture_output=True, check=False)
        engine.close()
    emit({
        "benchmark": "delivery_after_one_line_change",
        "registry_push": {**summary(push_s), "new_layers_median": statistics.median(layers),
                          "bytes_sent_median": int(statistics.median(pushed_bytes))},
        "docker_save_whole_image": {**summary(save_s), "bytes_median": int(statistics.median(saved_bytes))},
        "bytes_ratio": round(statistics.median(saved_bytes) / max(1, statistics.median(pushed_bytes)), 1),
    })  # fmt: skip


if __name__ == "__main__":
    main()
