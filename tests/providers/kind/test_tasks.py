"""Tasks on the kind provider against the fake API server (real HTTP; the Job controller makes the
pod, the kubelet runs it as a real container): output, exit code, env, and nothing left after."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from devloop.core.logbuffer import LogLine
from devloop.core.spec import AppSpec, HealthCheck, HealthCheckType, ProjectSpec, TaskSpec
from devloop.providers.kind.provider import KindProvider
from tests.conftest import FakeKind
from tests.helpers import async_poll, async_wait_until

pytestmark = pytest.mark.docker
IMAGE = "busybox:1.36"  # the local stand-in: nothing pulled


def app(tmp_path: Path) -> AppSpec:
    return AppSpec("web", tmp_path, image=IMAGE, env=(("GREETING", "hello"),),
                   secret_env=(("TOKEN", "tok-value"),), health=HealthCheck(HealthCheckType.PROCESS))  # fmt: skip


@pytest.fixture
async def provider(tmp_path: Path, fake_kind: FakeKind) -> AsyncIterator[KindProvider]:
    kind = KindProvider(ProjectSpec(tmp_path / "devloop.yaml", (app(tmp_path),)))
    await kind.ensure_platform(lambda _text: None)
    yield kind
    await kind.close()


async def objects(provider: KindProvider, version: str, plural: str) -> list[str]:
    listing = await provider.kube.list_objects(version, plural, provider.namespace, "")
    return [o["metadata"]["name"] for o in listing.get("items") or []]


async def test_a_task_is_a_job_whose_pod_output_and_exit_code_come_back(
    provider: KindProvider, tmp_path: Path
) -> None:
    lines: list[LogLine] = []
    task = TaskSpec("migrate", "echo hi $GREETING; echo token $TOKEN; exit 3")
    assert await provider.current_image(app(tmp_path)) is None  # nothing deployed yet
    code = await provider.run_task(app(tmp_path), IMAGE, task, lines.append, lambda _text: None)
    assert code == 3
    assert [(line.tag, line.text) for line in lines] == [("APP/TASK/migrate", "hi hello"),
                                                          ("APP/TASK/migrate", "token tok-value")]  # fmt: skip
    assert all(line.timestamp_ns > 0 for line in lines)  # the kubelet's timestamps
    assert await objects(provider, "batch/v1", "jobs") == []  # deleted once it ended
    await async_poll_gone(provider)
    # The app's ConfigMap and Secret were applied for it: a task before any deploy reads them.
    assert {"web-env", "web-secrets"} <= set(await objects(provider, "v1", "configmaps")) | set(
        await objects(provider, "v1", "secrets")
    )
    ok = await provider.run_task(app(tmp_path), IMAGE, TaskSpec("seed", "true"), lines.append, lambda _t: None)
    assert ok == 0


async def async_poll_gone(provider: KindProvider) -> None:
    async def no_task_pods() -> bool:
        listing = await provider.kube.list_objects("v1", "pods", provider.namespace, "devloop.dev/task")
        return not listing.get("items")

    await async_poll(no_task_pods, timeout=20, what="the Job's pod gone with it")


async def test_a_cancelled_task_leaves_no_job_and_no_pod_and_down_stops_a_running_one(
    provider: KindProvider, tmp_path: Path
) -> None:
    from devloop.errors import ProviderError

    nap = TaskSpec("nap", "trap 'exit 143' TERM; echo up; sleep 60 & wait")  # a shell that stops on SIGTERM
    for stop in ("Ctrl-C", "devloop down web"):
        lines: list[LogLine] = []
        run = asyncio.create_task(provider.run_task(app(tmp_path), IMAGE, nap, lines.append, lambda _text: None))
        await async_wait_until(lambda: lines or None, timeout=30, what="the task's first line")  # noqa: B023
        assert len(await objects(provider, "batch/v1", "jobs")) == 1
        if stop == "Ctrl-C":
            run.cancel()
            with pytest.raises(asyncio.CancelledError):
                await run
        else:  # as cf deletes an app's tasks with it
            await provider.remove([app(tmp_path)])
            with pytest.raises(ProviderError, match=r"task nap: its pod was deleted"):
                await asyncio.wait_for(run, 30)
        assert await objects(provider, "batch/v1", "jobs") == []
        await async_poll_gone(provider)
