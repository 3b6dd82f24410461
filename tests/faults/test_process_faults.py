"""Signals in every phase, SIGKILL then a fresh `devloop up`, and a full disk: `devloop up` as a user runs it.

Real Docker engine, real files, `devloop up --no-tui` as a subprocess on a copy of
samples/python-web. Each case checks the exit, the message, and what is left:
no devloop process, no half-made containers, no duplicates.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import FaultRecord
from tests.devloop_process import DevloopProcess
from tests.e2e.scenario import edit_greeting, serves
from tests.e2e.test_up_docker import containers_of, everything_of
from tests.helpers import copy_sample, processes_matching, wait_until, without_sync_rules
from tests.load import Load

pytestmark = pytest.mark.docker
URL = r"^web: (http://web\.localhost:\d+)$"


@pytest.fixture
def sample(tmp_path: Path) -> Iterator[Path]:
    folder = copy_sample("python-web", tmp_path)
    without_sync_rules(folder)
    yield folder
    subprocess.run(["python3", "-m", "devloop", "down"], cwd=folder, capture_output=True, check=False)


def assert_nothing_left_running(folder: Path, devloop: DevloopProcess) -> None:
    assert devloop.proc.poll() is not None
    assert processes_matching(str(folder)) == []  # no build or helper process outlived devloop
    assert "Traceback" not in devloop.output, devloop.output


@pytest.mark.fault("a signal while starting")
@pytest.mark.parametrize(
    ("phase", "signals", "said"),
    [
        (r"^\[STG\] web \|", (signal.SIGINT, signal.SIGINT), "SIGINT: stopping (again to stop at once)"),
        (r"^\[API\] web \| starting 2 instance\(s\)", (signal.SIGTERM,), "SIGTERM: stopping"),
    ],
    ids=["sigint-twice-mid-build", "sigterm-mid-rollout"],
)
def test_signals_while_starting_leave_nothing_half_made(
    sample: Path, fault: FaultRecord, phase: str, signals: tuple[signal.Signals, ...], said: str
) -> None:
    names = " twice" if len(signals) == 2 else ""
    fault.name = f"{signals[0].name}{names} during the {'build' if 'STG' in phase else 'rollout'}"
    devloop = DevloopProcess("up", "--no-tui", cwd=sample)
    try:
        devloop.wait_for(phase, timeout=120)
        for signum in signals:
            devloop.proc.send_signal(signum)
        assert devloop.proc.wait(60) == 130
    finally:
        devloop.kill()
    fault.message(devloop.output, said)
    assert_nothing_left_running(sample, devloop)
    # Nothing was deployed (mid-build), or the cancelled first deploy removed what it started.
    assert everything_of(sample) == [], devloop.output


@pytest.mark.fault("SIGKILL of devloop, then a fresh devloop up")
def test_after_sigkill_a_fresh_up_adopts_the_running_instances(sample: Path, fault: FaultRecord) -> None:
    first = DevloopProcess("up", "--no-tui", cwd=sample)
    try:
        url = first.wait_for(URL, timeout=120).group(1)
        assert serves(url, "hello from python-web")
        before = sorted(containers_of(sample))
        assert len(before) == 2
        first.proc.send_signal(signal.SIGKILL)
        first.proc.wait(10)
    finally:
        first.kill()
    second = DevloopProcess("up", "--no-tui", cwd=sample)
    try:
        url = second.wait_for(URL, timeout=120).group(1)
        fault.message(second.output, "adopting 2 running instance(s)")
        assert sorted(containers_of(sample)) == before  # the same two: none duplicated, none restarted
        assert serves(url, "hello from python-web")
        second.proc.send_signal(signal.SIGINT)
        second.proc.send_signal(signal.SIGINT)  # twice in a row in steady state
        assert second.proc.wait(30) == 130
    finally:
        second.kill()
    assert_nothing_left_running(sample, second)
    assert sorted(containers_of(sample)) == before


@contextlib.contextmanager
def tiny_filesystem(where: Path, size: str = "256k") -> Iterator[Path]:
    where.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
                             capture_output=True, text=True, check=False)  # fmt: skip
    if mounted.returncode != 0:
        pytest.skip(f"needs root to mount a small tmpfs: {mounted.stderr.strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], capture_output=True, check=False)


def fill(folder: Path) -> Path:
    filler = folder / "filler"
    with open(filler, "wb") as out:
        try:
            while True:
                out.write(b"\0" * 65536)
                out.flush()
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
    return filler


@pytest.mark.fault("disk full while writing the build's files")
def test_a_full_disk_is_one_message_and_the_next_save_after_freeing_space_serves(
    sample: Path, tmp_path: Path, fault: FaultRecord
) -> None:
    edit_greeting(sample, f"never-built-{uuid.uuid4().hex}")  # so the build has files to write
    with tiny_filesystem(tmp_path / "cache") as cache:
        filler = fill(cache)
        devloop = DevloopProcess("up", "--no-tui", cwd=sample, env={"XDG_CACHE_HOME": str(cache)})
        try:
            failed = devloop.wait_for(r"^\[API\] web \| build failed: .*", timeout=120).group(0)
            fault.message(failed, "no space left on the device writing")
            fault.message(failed, "free some space (e.g. `docker system prune`), then save again")
            assert devloop.proc.poll() is None  # still watching
            os.unlink(filler)
            edit_greeting(sample, "after-the-disk-was-freed")
            url = devloop.wait_for(URL, timeout=120).group(1)
            wait_until(lambda: serves(url, "after-the-disk-was-freed"), timeout=30, what="the fixed build")
            assert devloop.interrupt() == 130
        finally:
            devloop.kill()
        assert_nothing_left_running(sample, devloop)


@pytest.mark.fault("a build fails, then the fix lands (under load)")
def test_a_failed_build_keeps_the_old_version_serving_until_the_fix(
    tmp_path: Path, fault: FaultRecord
) -> None:
    folder = tmp_path / f"broken-{uuid.uuid4().hex[:6]}"
    shutil.copytree(Path(__file__).resolve().parents[1] / "data" / "router-app", folder)
    (folder / "devloop.yaml").write_text(
        "version: 1\nprovider: docker\napps:\n  - name: web\n    instances: 2\n"
        "    health_check: {type: http, endpoint: /}\n"
    )
    dockerfile = folder / "Dockerfile"
    good = dockerfile.read_text().replace("USER 10001", "ENV GREETING=v1\nUSER 10001")
    dockerfile.write_text(good)
    devloop = DevloopProcess("up", "--no-tui", "--no-router-logs", cwd=folder)
    try:
        url = devloop.wait_for(URL, timeout=120).group(1)
        port, host = int(url.rsplit(":", 1)[1]), url.removeprefix("http://")
        with Load(port, host) as load:
            mark = len(devloop.lines)
            dockerfile.write_text(
                good.replace("USER 10001", "RUN echo broken-on-purpose && exit 3\nUSER 10001")
            )
            failed = devloop.wait_for(r"^\[API\] web \| build failed: .*", start=mark).group(0)
            fault.message(failed, "build failed at step")
            fault.message(
                devloop.wait_for(r"previous version keeps serving", start=mark).group(0), "keeps serving"
            )
            mark = len(devloop.lines)
            dockerfile.write_text(good.replace("GREETING=v1", "GREETING=v2"))  # the fix
            wait_until(lambda: load.result.bodies.get("v2 0", 0) and load.result.bodies.get("v2 1", 0),
                       timeout=120, what="the fixed version on both instances")  # fmt: skip
        assert load.result.failed == 0, load.result.failures
        assert load.result.bodies["v1 0"] and load.result.bodies["v1 1"]  # served while the build was broken
        assert devloop.interrupt() == 130
    finally:
        devloop.kill()
    assert_nothing_left_running(folder, devloop)
    subprocess.run([sys.executable, "-m", "devloop", "down"], cwd=folder, capture_output=True, check=False)
