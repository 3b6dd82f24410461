"""No-op change detection on a 5,000-file build context (target: median under 100 ms).

devloop: `ImageBuilder.plan()` (walk with pruning, stat-cached digests, Dockerfile
generation). Naive, same run: list the context with the Docker SDK's
`exclude_paths` and hash every file's content each time.
Run: python -m scripts.bench.build_noop
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import time
from pathlib import Path

from docker.utils.build import exclude_paths

from devloop.adapters.dockercli import Builder, DockerClient
from devloop.build.builder import ImageBuilder
from devloop.core.spec import AppSpec, BuildSpec, Language
from scripts.bench.common import emit, summary

FOLDERS, FILES_PER_FOLDER, ROUNDS = 50, 100, 30


def make_context(root: Path) -> None:
    (root / "requirements.txt").write_text("")
    (root / "app.py").write_text("print('hi')\n")
    (root / ".dockerignore").write_text("node_modules\n*.log\n")
    for i in range(FOLDERS):
        folder = root / "pkg" / f"mod{i}"
        folder.mkdir(parents=True)
        for j in range(FILES_PER_FOLDER):
            (folder / f"f{j}.py").write_text(f"VALUE = {i * FILES_PER_FOLDER + j}\n" * 20)
    for i in range(200):  # ignored: must cost nothing
        (root / "node_modules" / f"p{i}").mkdir(parents=True)
        (root / "node_modules" / f"p{i}" / "index.js").write_text("x")


def naive_digest(root: Path) -> str:
    patterns = (root / ".dockerignore").read_text().split()
    sha = hashlib.sha256()
    for rel in sorted(exclude_paths(str(root), patterns)):
        path = root / rel
        if path.is_file():
            sha.update(rel.encode() + path.read_bytes())
    return sha.hexdigest()


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        make_context(root)
        app = AppSpec("bench", root, BuildSpec(root, language=Language.PYTHON))
        builder = ImageBuilder(DockerClient("docker", (20, 10, 0), Builder.CLASSIC_BUILDKIT), engine=object())
        first = time.perf_counter()
        plan = builder.plan(app)
        cold = time.perf_counter() - first
        devloop_s, naive_s = [], []
        for _ in range(ROUNDS):
            t = time.perf_counter()
            again = builder.plan(app)
            devloop_s.append(time.perf_counter() - t)
            assert again.image == plan.image
            t = time.perf_counter()
            naive_digest(root)
            naive_s.append(time.perf_counter() - t)
        files = len(plan.entries)
    dev = summary(devloop_s)
    emit(
        {
            "benchmark": "build_noop_detection",
            "context_files": files,
            "devloop": {**dev, "cold_ms": round(cold * 1000, 2)},
            "naive_sdk_walk_and_full_hash": summary(naive_s),
            "target_median_ms": 100,
            "meets_target": dev["median_ms"] < 100,
            "cpu_count": os.cpu_count(),
        }
    )


if __name__ == "__main__":
    main()
