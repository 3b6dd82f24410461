"""Logs that never forget, on kind: a crashed and deleted pod's lines and its crash outlive it.

Against the fake API server (pods as real containers, so a killed container is a real exit 137):
`devloop logs --recent` serves a deleted pod's lines from the on-disk history merged with what the
cluster still holds, each once; `devloop logs --recent -f` then follows with no line lost or twice
between the two; `devloop events` names the crash after the pod and `devloop up` are gone.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import docker
import pytest

from tests.conftest import FakeKind
from tests.devloop_process import DevloopProcess
from tests.e2e.scenario import edit_greeting, serves
from tests.e2e.test_commands import run_devloop
from tests.fakes.kubeapi import POD_LABEL
from tests.helpers import copy_sample, http_get, wait_until, without_sync_rules

pytestmark = pytest.mark.docker


def probe_counts(text: str, probes: range) -> list[int]:
    """How often each probe request's app line appears in `text`."""
    return [len(re.findall(rf"\[APP/\d\] web \| instance \d: GET /probe-{n} 200", text)) for n in probes]


def test_a_crashed_and_deleted_pods_lines_and_crash_outlive_it(tmp_path: Path, fake_kind: FakeKind) -> None:
    folder = copy_sample("python-web", tmp_path)
    without_sync_rules(folder)  # a save rebuilds and replaces every pod: a redeploy
    env = {**os.environ, **fake_kind.env()}
    cluster = fake_kind.cluster
    api = cluster.api
    assert api is not None

    def devloop(*args: str) -> str:
        done = run_devloop(folder, *args, "--provider", "kind", env=env)
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    def pods() -> list[dict[str, object]]:
        return list(cluster.call(lambda: [o for _v, o in api.items("pods", None)
                                          if not o["metadata"].get("deletionTimestamp")]))  # fmt: skip

    up = DevloopProcess("up", "--no-tui", "--provider", "kind", cwd=folder, env=env)
    try:
        url = up.wait_for(r"^web: (http://web\.localhost:\d+)$", timeout=300).group(1)
        for n in range(6):
            assert http_get(f"{url}/probe-{n}") is not None
        up.wait_for(r"^\[APP/\d\] web \| instance \d: GET /probe-5 200")
        # One pod's container is killed (a real exit 137), then the pod is deleted: its log goes with it.
        victim = pods()[0]
        name = victim["metadata"]["name"]  # type: ignore[index]
        key = f"{victim['metadata']['namespace']}/{name}"  # type: ignore[index]  # the fake kubelet's label
        engine = docker.from_env()
        try:
            (container,) = engine.containers.list(filters={"label": f"{POD_LABEL}={key}"})
            container.kill()
        finally:
            engine.close()
        up.wait_for(r"^\[API/\d\] web \| instance \d crashed \(exit code 137\)$", timeout=60)
        cluster.call(api.delete_object, "v1", "pods", victim)
        wait_until(lambda: len(pods()) == 2 and all(p["metadata"]["name"] != name for p in pods()),  # type: ignore[index]
                   timeout=60, what="the deleted pod replaced")  # fmt: skip

        recent = devloop("logs", "--recent")
        assert probe_counts(recent, range(6)) == [1] * 6, recent  # history and cluster merged, none twice

        # A redeploy replaces the other pod too: every probe line now comes from the history alone.
        survivor = next(p["metadata"]["name"] for p in pods())  # type: ignore[index]
        mark = len(up.lines)
        edit_greeting(folder, "redeployed")
        up.wait_for(r"^\[API\] web \| running \S*devloop/web:", timeout=120, start=mark)
        wait_until(lambda: serves(url, "redeployed"), timeout=30, what="the redeployed app")
        wait_until(lambda: survivor not in [p["metadata"]["name"] for p in pods()], timeout=30,  # type: ignore[index]
                   what="the old pod gone")  # fmt: skip
        recent = devloop("logs", "--recent")
        assert probe_counts(recent, range(6)) == [1] * 6, recent

        follow = DevloopProcess("logs", "--recent", "-f", "--provider", "kind", cwd=folder, env=env)
        try:
            follow.wait_for(r"GET /probe-5 200", timeout=60)
            for n in range(6, 9):
                wait_until(lambda n=n: http_get(f"{url}/probe-{n}"), timeout=30, what=f"probe {n} answered")  # type: ignore[misc]
            follow.wait_for(r"GET /probe-8 200", timeout=60)
            assert probe_counts(follow.output, range(9)) == [1] * 9, follow.output
        finally:
            assert follow.interrupt() == 130
        assert up.interrupt() == 130
    finally:
        up.kill()

    events = devloop("events", "web")
    assert re.search(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d  web  instance \d crashed \(exit code 137\)$", events,
                     re.M), events  # fmt: skip
    assert "pushed devloop/web:" in events
    devloop("down")
