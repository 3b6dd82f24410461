"""The [API] lines about instances: a crash said once, an OOM kill with its limit, then the restart."""

from __future__ import annotations

import pytest

from devloop.core.events import InstanceStatus
from devloop.core.wording import after_failure, crash_text, instance_notes, without_serving_claim


def status(state: str, restarts: int = 0, **extra: object) -> InstanceStatus:
    return InstanceStatus("web", 0, "c0", state, restarts=restarts, **extra)  # type: ignore[arg-type]


def test_an_oom_kill_says_out_of_memory_with_the_limit_before_the_restart() -> None:
    running = status("running", memory_limit_mb=64)
    killed = status("crashed", exit_code=137, oom_killed=True, memory_limit_mb=64)
    back = status("running", restarts=1, oom_killed=True, memory_limit_mb=64)
    assert instance_notes(running, killed) == ["instance 0 crashed: out of memory (limit 64M)"]
    assert instance_notes(killed, back) == ["instance 0 restarted (1 so far)"]
    # The crash came and went between two looks: both lines, the crash first.
    assert instance_notes(running, back) == [
        "instance 0 crashed: out of memory (limit 64M)",
        "instance 0 restarted (1 so far)",
    ]


@pytest.mark.parametrize("state", ["stopping", "running", "exited", "starting"])
def test_no_crash_line_for_what_is_no_crash(state: str) -> None:
    """A stop devloop asked for (`devloop restart`, a redeploy) is reported as `stopping`."""
    assert instance_notes(status("running"), status(state, exit_code=143)) == []


def test_a_crash_is_said_once_while_it_stays_crashed() -> None:
    crashed = status("crashed", exit_code=3)
    assert instance_notes(status("running"), crashed) == ["instance 0 crashed (exit code 3)"]
    assert instance_notes(crashed, crashed) == []
    assert instance_notes(None, crashed) == ["instance 0 crashed (exit code 3)"]  # found crashed


def test_worker_and_plain_crash_texts() -> None:
    worker = InstanceStatus("web", 1, "c1", "crashed", exit_code=1, process="worker")
    assert crash_text(worker) == "instance worker/1 crashed (exit code 1)"
    assert crash_text(status("crashed", oom_killed=True)) == "instance 0 crashed: out of memory"


def test_deploy_failure_wording_tells_whether_anything_serves() -> None:
    assert (
        without_serving_claim("web: check failed; the previous version keeps serving") == "web: check failed"
    )
    assert without_serving_claim("web/0 exited with code 3") == "web/0 exited with code 3"
    assert after_failure(True) == "the previous version keeps serving"
    assert "keeps serving" not in after_failure(False) and "down" in after_failure(False)
