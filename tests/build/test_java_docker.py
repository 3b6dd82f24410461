"""A cf Java app (`path:` a built jar) runs on a generated JRE image: compiled here with the JDK,
pushed with `devloop push --provider docker` from its manifest as written, served for real."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.scenario import serves
from tests.helpers import http_get

pytestmark = pytest.mark.docker
APP = Path(__file__).resolve().parents[1] / "data" / "java-app"


def build_jar(folder: Path) -> None:
    """javac + jar, as `mvn package` would leave target/hello.jar."""
    if shutil.which("javac") is None or shutil.which("jar") is None:
        pytest.skip("needs a JDK (javac, jar) to build the test's jar")
    classes = folder / "classes"
    subprocess.run(["javac", "-d", str(classes), str(folder / "Hello.java")], check=True, timeout=120)
    (folder / "target").mkdir()
    subprocess.run(["jar", "--create", "--file", str(folder / "target" / "hello.jar"), "--main-class", "Hello",
                    "-C", str(classes), "."], check=True, timeout=60)  # fmt: skip


def devloop(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "devloop", *args, "--provider", "docker"], cwd=folder,
                          capture_output=True, text=True, timeout=300)  # fmt: skip


def test_a_built_jar_runs_on_a_generated_jre_and_serves(tmp_path: Path) -> None:
    folder = tmp_path / "java-app"
    shutil.copytree(APP, folder)
    build_jar(folder)
    try:
        pushed = devloop(folder, "push")
        assert pushed.returncode == 0, pushed.stdout + pushed.stderr
        url = next(line for line in pushed.stdout.splitlines() if line.startswith("hello-java: ")).split()[1]
        assert serves(url, "hello from java 0 heap ")
        body = http_get(url) or ""
        heap_mb = int(body.split(" heap ")[1].split("M")[0])
        assert 150 <= heap_mb <= 256  # most of the 256M limit, as the Java buildpack sizes the heap
        assert body.rstrip().endswith("opts -Dapp.greeting=local")
    finally:
        devloop(folder, "down")
