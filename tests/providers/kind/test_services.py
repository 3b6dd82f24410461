"""Backing services on the kind provider, against the fake API server (pods are real containers).

A redis service becomes a StatefulSet, a Service and a credentials Secret (schema-valid);
its pod runs the real Redis image with the password from the Secret and turns ready by
its exec probe; the bound app's pods read VCAP_SERVICES from their binding Secret.
"""

from __future__ import annotations

import asyncio
import base64
import json
import subprocess
from pathlib import Path

import docker
import kubernetes_validate
import pytest

from devloop.cli.services import list_services
from devloop.core.services import CATALOG, ServiceSpec
from devloop.core.spec import ProjectSpec
from devloop.providers.kind.provider import KindProvider
from tests.conftest import FakeKind
from tests.helpers import wait_until
from tests.providers.kind.test_provider import web_app, web_image  # noqa: F401 (a fixture)

pytestmark = pytest.mark.docker


async def test_a_bound_service_runs_as_a_statefulset_and_its_app_reads_vcap_services(
    tmp_path: Path,
    fake_kind: FakeKind,
    web_image: str,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    queue = ServiceSpec("queue", CATALOG["redis"], ready_timeout_s=30)
    app = web_app(tmp_path, services=("queue",), instances=1)
    provider = KindProvider(ProjectSpec(tmp_path / "devloop.yaml", (app,), services=(queue,)))
    cluster = fake_kind.cluster
    api = cluster.api  # type: ignore[attr-defined]
    lines: list[str] = []
    try:
        await provider.ensure_platform(lambda _text: None)
        image = await provider.deliver(app, web_image, lambda _text: None)
        await provider.deploy(app, image, lines.append)
        assert "service queue is ready" in lines
        ns = provider.namespace

        def fetch(version: str, plural: str, name: str) -> dict[str, object] | None:
            return cluster.call(api.fetch, version, plural, ns, name)  # type: ignore[attr-defined, no-any-return]

        sts, service = fetch("apps/v1", "statefulsets", "queue"), fetch("v1", "services", "queue")
        credentials, bindings = (
            fetch("v1", "secrets", "queue-credentials"),
            fetch("v1", "secrets", "web-bindings"),
        )
        for obj in (sts, service, credentials, bindings):
            assert obj is not None
            kubernetes_validate.validate(
                {k: v for k, v in obj.items() if k != "status"}, "1.31", strict=False
            )  # what was applied, as the server stored it
        password = base64.b64decode(credentials["data"]["REDISCLI_AUTH"]).decode()  # type: ignore[index]

        # The app's pod got VCAP_SERVICES (through envFrom) naming the service and its password.
        def app_env() -> dict[str, str] | None:
            pods = [k for k in cluster.call(lambda: dict(api.containers)) if "/web-" in k]  # type: ignore[attr-defined]
            if not pods:
                return None
            client = docker.from_env()
            try:
                env = client.containers.get(cluster.call(lambda: api.containers[pods[0]])).attrs["Config"][
                    "Env"
                ]  # type: ignore[attr-defined]
            finally:
                client.close()
            return dict(item.split("=", 1) for item in env)

        env = wait_until(app_env, what="the app's pod")
        vcap = json.loads(env["VCAP_SERVICES"])
        assert vcap["redis"][0]["name"] == "queue"
        assert vcap["redis"][0]["credentials"]["hostname"] == "queue"
        assert vcap["redis"][0]["credentials"]["password"] == password
        assert env["REDIS_URL"] == f"redis://:{password}@queue:6379"

        # A second devloop finds the password in the cluster instead of making a new one.
        again = KindProvider(ProjectSpec(tmp_path / "devloop.yaml", (app,), services=(queue,)))
        try:
            await again.ensure_platform(lambda _text: None)
            await again.deploy(app, image, lambda _text: None)
        finally:
            await again.close()
        credentials = fetch("v1", "secrets", "queue-credentials")
        assert base64.b64decode(credentials["data"]["REDISCLI_AUTH"]).decode() == password  # type: ignore[index]

        # The cf service commands, from a devloop that did not deploy: the state from the
        # StatefulSet, the password from the Secret, the client inside the pod over exec.
        project = ProjectSpec(tmp_path / "devloop.yaml", (app,), services=(queue,))
        await asyncio.to_thread(list_services, project, KindProvider(project))
        assert capsys.readouterr().out.splitlines()[1].split() == [
            "queue",
            "redis",
            "local",
            "running",
            "web",
        ]
        assert await provider.service_password(queue) == password
        argv = provider.service_shell_argv(queue, ("ping",), tty=False)
        pong = await asyncio.to_thread(subprocess.run, argv, capture_output=True, text=True, timeout=60)
        assert pong.stdout.strip() == "PONG", pong.stderr  # authenticated by the pod's REDISCLI_AUTH

        await provider.remove(None, purge=True)
        assert fetch("apps/v1", "statefulsets", "queue") is None
        assert fetch("v1", "secrets", "queue-credentials") is None
    finally:
        await provider.close()


async def test_down_keeps_a_services_data_and_its_password_and_purge_deletes_both(
    tmp_path: Path,
    fake_kind: FakeKind,
    web_image: str,  # noqa: F811
) -> None:
    """PostgreSQL keeps the password of its first start in its data: after `down` and `up` the
    credentials must still be the ones the data knows, so bound apps can log in."""
    db = ServiceSpec("db", CATALOG["postgres"], ready_timeout_s=60)
    app = web_app(tmp_path, services=("db",), instances=1)
    project = ProjectSpec(tmp_path / "devloop.yaml", (app,), services=(db,))
    cluster = fake_kind.cluster
    api = cluster.api  # type: ignore[attr-defined]

    async def psql(provider: KindProvider, sql: str) -> tuple[int, str]:
        password = await provider.service_password(db)
        # Over the pod's own address, not 127.0.0.1 (trusted): the password is checked, as for an app.
        script = f'psql "postgresql://postgres:{password}@$(hostname -i):5432/app" -tAc "{sql}"'
        result = await provider.kube.exec(provider.namespace, "db-0", "db", ["sh", "-c", script])
        return result.code, (result.stdout + result.stderr).decode()

    first = KindProvider(project)
    try:
        await first.ensure_platform(lambda _text: None)
        await first.deploy(app, await first.deliver(app, web_image, lambda _t: None), lambda _t: None)
        assert await psql(first, "create table kept (v text); insert into kept values ('still here')") == (
            0,
            "CREATE TABLE\nINSERT 0 1\n",
        )
        await first.remove(None)  # `devloop down`
        claims = cluster.call(
            lambda: [o["metadata"]["name"] for _v, o in api.items("persistentvolumeclaims", first.namespace)]
        )  # type: ignore[attr-defined]
        assert claims == ["data-db-0"]
    finally:
        await first.close()
    second = KindProvider(project)
    try:
        await second.ensure_platform(lambda _text: None)
        await second.deploy(app, await second.deliver(app, web_image, lambda _t: None), lambda _t: None)
        assert await psql(second, "select v from kept") == (0, "still here\n")  # data and login both work
        await second.remove(None, purge=True)  # `devloop down --purge`: nothing is left

        def left() -> list[str]:
            return cluster.call(
                lambda: [
                    f"{v}/{o['metadata']['name']}"
                    for plural in ("persistentvolumeclaims", "secrets", "statefulsets")  # type: ignore[attr-defined]
                    for v, o in api.items(plural, second.namespace)
                ]
            )  # type: ignore[attr-defined]

        wait_until(lambda: left() == [], timeout=60, what="the claim released once its pod is gone")
    finally:
        await second.close()


async def test_a_service_named_redis_puts_no_service_links_in_the_apps_pods(
    tmp_path: Path,
    fake_kind: FakeKind,
    web_image: str,  # noqa: F811
) -> None:
    """Without enableServiceLinks: false the kubelet gives every pod REDIS_PORT=tcp://IP:6379, which
    an app reading REDIS_PORT as a port number chokes on."""
    from tests.providers.kind.test_provider import pod_env

    redis = ServiceSpec("redis", CATALOG["redis"], ready_timeout_s=30)
    app = web_app(tmp_path, services=("redis",), instances=1)
    provider = KindProvider(ProjectSpec(tmp_path / "devloop.yaml", (app,), services=(redis,)))
    try:
        await provider.ensure_platform(lambda _text: None)
        await provider.deploy(app, await provider.deliver(app, web_image, lambda _t: None), lambda _t: None)
        env = wait_until(lambda: pod_env(fake_kind.cluster, "web"), what="the app's pod")
        assert "REDIS_PORT" not in env and "REDIS_SERVICE_HOST" not in env
        assert env["KUBERNETES_SERVICE_HOST"] == "10.96.0.1"  # the API server's own, always there
        assert env["REDIS_URL"].endswith("@redis:6379")
    finally:
        await provider.close()
