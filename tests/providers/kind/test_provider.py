"""The kind provider against the fake API server (real HTTP, pods as real containers) and the fake kind CLI."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import os
import socket
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import docker
import kubernetes_validate
import pytest

from devloop.adapters.kube import KubeClient
from devloop.core.spec import AppSpec, HealthCheck, HealthCheckType, ProjectSpec
from devloop.errors import ProviderError, ToolMissingError
from devloop.providers.base import DeployError
from devloop.providers.kind.provider import KindProvider
from devloop.providers.kind.rollout import labelled
from tests.conftest import FakeKind
from tests.helpers import async_wait_until, http_get
from tests.load import Load
from tests.registry import running_registry

pytestmark = pytest.mark.docker

SERVER = (
    "import os\nfrom http.server import BaseHTTPRequestHandler, HTTPServer\n"
    "class H(BaseHTTPRequestHandler):\n"
    "    def do_GET(self):\n"
    "        self.send_response(200); self.end_headers()\n"
    "        self.wfile.write(os.environ.get('GREETING', 'hi').encode())\n"
    "HTTPServer(('0.0.0.0', int(os.environ['PORT'])), H).serve_forever()\n"
)


def build(dockerfile: str, files: dict[str, str] | None = None) -> str:
    """A small image built on the local engine, tagged as devloop would (devloop/NAME:TAG)."""
    import tarfile

    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, text in {"Dockerfile": dockerfile, **(files or {})}.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    buffer.seek(0)
    tag = f"devloop/t{uuid.uuid4().hex[:8]}:test"
    client = docker.from_env()
    try:
        client.images.build(fileobj=buffer, custom_context=True, tag=tag, rm=True)
    finally:
        client.close()
    return tag


@pytest.fixture(scope="module")
def web_image() -> Iterator[str]:
    tag = build('FROM python:3.12-slim\nCOPY server.py /server.py\nUSER 10001\nCMD ["python3", "/server.py"]\n',
                {"server.py": SERVER})  # fmt: skip
    yield tag
    subprocess.run(["docker", "rmi", "-f", tag], capture_output=True)


def web_app(tmp_path: Path, **changes: object) -> AppSpec:
    fields: dict[str, object] = dict(
        name="web", source=tmp_path, instances=2, port=8080,
        health=HealthCheck(HealthCheckType.HTTP, "/", timeout_s=20),
    )  # fmt: skip
    fields.update(changes)
    return AppSpec(**fields)  # type: ignore[arg-type]


@pytest.fixture
async def provider(tmp_path: Path, fake_kind: FakeKind) -> AsyncIterator[KindProvider]:
    project = ProjectSpec(tmp_path / "devloop.yaml", (web_app(tmp_path),))
    kind = KindProvider(project)
    yield kind
    await kind.close()


async def test_creates_the_cluster_once_then_reuses_it(tmp_path: Path, fake_kind: FakeKind) -> None:
    project = ProjectSpec(tmp_path / "devloop.yaml", (web_app(tmp_path),), cluster="dev-a")
    lines: list[str] = []
    first = KindProvider(project)
    description = await first.ensure_platform(lines.append)
    await first.close()
    create = next(c for c in fake_kind.calls() if c[:2] == ["create", "cluster"])
    assert create[:4] == ["create", "cluster", "--name", "dev-a"]
    config = Path(create[create.index("--config") + 1]).read_text()
    assert "apiServerAddress: 127.0.0.1" in config and "listenAddress: 127.0.0.1" in config
    assert "creating kind cluster dev-a" in lines[0]
    assert any("Starting control-plane" in line for line in lines)  # kind's progress is shown
    # The fake nodes are no containers: the registry recipe stops before starting (or pulling) anything.
    assert not any(line.startswith("starting the local registry") for line in lines)
    assert any(line.startswith("no local registry (the kind nodes or their `kind` network") for line in lines)
    assert "kubernetes v1.31.4 (kind cluster dev-a" in description
    second = KindProvider(project)
    reused: list[str] = []
    await second.ensure_platform(reused.append)
    await second.close()
    assert [c for c in fake_kind.calls() if c[:2] == ["create", "cluster"]] == [create]
    assert reused[0] == "reusing kind cluster dev-a"
    kubeconfig = tmp_path / "fake-kind" / "cache" / "devloop" / "kube" / "dev-a.yaml"
    assert oct(kubeconfig.stat().st_mode & 0o777) == "0o600"  # it holds credentials


async def test_kind_missing_names_the_install_page(
    provider: KindProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    with pytest.raises(ToolMissingError) as caught:
        await provider.ensure_platform(lambda _text: None)
    assert "kind is not installed" in str(caught.value)
    assert "kind.sigs.k8s.io/docs/user/quick-start" in caught.value.render()


async def test_an_old_kind_is_refused(provider: KindProvider, monkeypatch: pytest.MonkeyPatch) -> None:
    # kind v0.22 passed the old gate (>= 0.20) and made Kubernetes 1.29 clusters, which the API gate refused.
    monkeypatch.setenv("FAKE_KIND_VERSION", "kind v0.22.0 go1.20.13 linux/amd64")
    with pytest.raises(
        ProviderError, match=r"kind v0\.22\.0 is too old; devloop needs kind v0\.23\.0"
    ) as caught:
        await provider.ensure_platform(lambda _text: None)
    assert "upgrade kind to v0.23.0 or newer (its clusters run Kubernetes 1.30+)" in caught.value.render()


def test_every_kind_devloop_accepts_makes_a_kubernetes_it_accepts() -> None:
    from devloop.adapters import kindcli, kube
    from devloop.cli import doctor
    from devloop.core import versions

    accepted = [k for k in versions.KIND_DEFAULT_KUBERNETES if k >= versions.MIN_KIND[:2]]
    assert accepted and all(versions.KIND_DEFAULT_KUBERNETES[k] >= versions.MIN_KUBERNETES for k in accepted)
    refused = [k for k in versions.KIND_DEFAULT_KUBERNETES if k < versions.MIN_KIND[:2]]
    assert all(versions.KIND_DEFAULT_KUBERNETES[k] < versions.MIN_KUBERNETES for k in refused)
    assert (
        doctor.MIN_KIND == kindcli.MIN_KIND == versions.MIN_KIND
        and kube.MIN_KUBERNETES == versions.MIN_KUBERNETES
    )


async def test_a_cluster_too_old_says_how_to_make_a_new_one(
    provider: KindProvider, fake_kind: FakeKind, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.fakes import kubeapi

    monkeypatch.setitem(kubeapi.SERVER_VERSION, "minor", "29")
    monkeypatch.setitem(kubeapi.SERVER_VERSION, "gitVersion", "v1.29.2")
    with pytest.raises(
        ProviderError, match=r"Kubernetes v1\.29\.2 at .* is too old; devloop needs 1\.30"
    ) as caught:
        await provider.ensure_platform(lambda _text: None)
    assert "`devloop down --cluster` and `devloop up` make it anew" in caught.value.render()


@pytest.mark.fault("kind create cluster fails", messages=1)
async def test_a_failed_create_leaves_no_cluster(
    provider: KindProvider, fake_kind: FakeKind, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_KIND_FAIL_CREATE", "1")
    with pytest.raises(ProviderError) as caught:
        await provider.ensure_platform(lambda _text: None)
    assert "failed to init node with kubeadm" in str(caught.value)  # kind's own output
    assert ["delete", "cluster", "--name", "devloop"] in fake_kind.calls()
    assert (fake_kind.state / "clusters").read_text().split() == []


@pytest.mark.fault("the API server does not answer", messages=1)
async def test_an_unreachable_api_server_is_retried_then_named(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again: nothing listens there
    config = tmp_path / "kubeconfig"
    config.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
        f"clusters: [{{name: c, cluster: {{server: 'http://127.0.0.1:{port}'}}}}]\n"
        "contexts: [{name: c, context: {cluster: c, user: u}}]\nusers: [{name: u, user: {token: t}}]\n"
    )
    with pytest.raises(
        ProviderError, match=rf"API server of the current context in {config} is not answering"
    ):
        await KubeClient.connect(config, None, within_s=0.5)


async def test_deploy_serves_through_one_address_and_prunes(
    provider: KindProvider, web_image: str, tmp_path: Path, fake_kind: FakeKind
) -> None:
    await provider.ensure_platform(lambda _text: None)
    app = web_app(tmp_path, env=(("GREETING", "first"),))
    image = await provider.deliver(app, web_image, lambda _text: None)
    deployed = await provider.deploy(app, image, lambda _text: None)
    assert deployed.url is not None and await asyncio.to_thread(http_get, deployed.url) == "first"
    assert len(provider.forwards["web"]) == 2  # one port-forward per ready pod
    cluster = fake_kind.cluster
    api = cluster.api  # type: ignore[attr-defined]
    applied = [r for r in api.requests_seen if r[0] == "PATCH"]
    assert applied and all(r[2] == "application/apply-patch+yaml" for r in applied)
    assert cluster.call(api.fetch, "v1", "configmaps", provider.namespace, "web-env") is not None  # type: ignore[attr-defined]
    # The env goes away from the config: its ConfigMap is pruned, the app still serves.
    plain = web_app(tmp_path)
    await provider.deploy(plain, image, lambda _text: None)
    assert cluster.call(api.fetch, "v1", "configmaps", provider.namespace, "web-env") is None  # type: ignore[attr-defined]
    assert await asyncio.to_thread(http_get, deployed.url) == "hi"


@pytest.mark.fault("a pod crash-loops during a rollout", messages=2)
async def test_a_crashing_app_fails_the_rollout_with_its_exit_code_and_output(
    provider: KindProvider, tmp_path: Path
) -> None:
    image = build('FROM busybox:1.36\nUSER 10001\nCMD ["sh", "-c", "echo boom before start; exit 3"]\n')
    await provider.ensure_platform(lambda _text: None)
    with pytest.raises(DeployError) as caught:
        await provider.deploy(web_app(tmp_path, instances=1), image, lambda _text: None)
    assert "exited with code 3" in str(caught.value) and "previous version keeps serving" in str(caught.value)
    assert "boom before start" in caught.value.lines


async def test_a_root_image_runs_in_the_dev_loop_without_run_as_non_root(
    provider: KindProvider, tmp_path: Path, fake_kind: FakeKind
) -> None:
    image = build('FROM busybox:1.36\nCMD ["sleep", "600"]\n')  # no USER: root
    await provider.ensure_platform(lambda _text: None)
    app = web_app(tmp_path, instances=1, no_route=True, health=HealthCheck(HealthCheckType.PROCESS))
    progress: list[str] = []
    await provider.deploy(app, image, progress.append)
    assert any(
        line.startswith(f"{image} runs as root or a named user: its pods run without runAsNonRoot")
        for line in progress
    )
    cluster = fake_kind.cluster
    deployment = cluster.call(cluster.api.fetch, "apps/v1", "deployments", provider.namespace, "web")  # type: ignore[attr-defined]
    assert "runAsNonRoot" not in json.dumps(deployment["spec"]["template"])
    assert "runAsNonRoot" in json.dumps(provider.objects(app, image))  # what export writes keeps it


async def test_a_user_manifest_demanding_non_root_gets_the_kubelet_reason(
    provider: KindProvider, tmp_path: Path
) -> None:
    image = build('FROM busybox:1.36\nCMD ["sleep", "600"]\n')  # no USER: root
    manifest = tmp_path / "deployment.yaml"
    manifest.write_text(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n"
        "  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n"
        "    spec:\n      securityContext: {runAsNonRoot: true}\n      containers: [{name: web, image: web}]\n"
    )
    await provider.ensure_platform(lambda _text: None)
    app = web_app(tmp_path, instances=1, manifests=manifest)
    with pytest.raises(
        DeployError, match="cannot be configured: container has runAsNonRoot and image will run as root"
    ):
        await provider.deploy(app, image, lambda _text: None)


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[str]:
    """A real registry process (Debian's docker-registry) on a free loopback port."""
    with running_registry(tmp_path) as address:
        yield address


async def test_registry_delivery_pushes_and_pods_pull_from_it(
    provider: KindProvider, web_image: str, tmp_path: Path, fake_kind: FakeKind, registry: str
) -> None:
    from devloop.providers.kind import cluster_config

    cluster = fake_kind.cluster
    cluster.call(cluster.api.store, "v1", "configmaps", cluster_config.registry_hosting(registry), "ADDED")  # type: ignore[attr-defined]
    description = await provider.ensure_platform(lambda _text: None)
    assert f"images via registry {registry}" in description
    progress: list[str] = []
    app = web_app(tmp_path, instances=1)
    reference = await provider.deliver(app, web_image, progress.append)
    repository = web_image.rpartition(":")[0]
    assert reference.startswith(f"{registry}/{repository}@sha256:")  # the pods run it by digest
    assert not any(c[:2] == ["load", "docker-image"] for c in fake_kind.calls())
    # The kubelet pulls it: drop the local copy first so only the registry has it.
    subprocess.run(["docker", "rmi", reference], capture_output=True, check=True)
    deployed = await provider.deploy(app, reference, lambda _text: None)
    assert deployed.url is not None and await asyncio.to_thread(http_get, deployed.url) == "hi"
    again: list[str] = []
    await provider.deliver(app, web_image, again.append)
    [line] = again  # unchanged layers never travel twice
    assert line.startswith(f"delivered {reference} to kind cluster devloop via registry push in ")
    assert " s (0 new layer(s))" in line


def test_applied_objects_follow_the_schema(tmp_path: Path) -> None:
    project = ProjectSpec(tmp_path / "devloop.yaml", (web_app(tmp_path),))
    provider = KindProvider(project)
    app = web_app(tmp_path, env=(("A", "1"),), secret_env=(("TOKEN", "s3cret"),))
    for obj in provider.objects(app, "devloop/web:0123456789abcdef"):
        kubernetes_validate.validate(labelled(obj, provider.project_label, "web"), "1.31", strict=True)


def test_user_manifests_get_the_built_image_and_bad_ones_say_where(tmp_path: Path) -> None:
    from devloop.providers.kind import user_objects

    manifest = tmp_path / "k8s.yaml"
    manifest.write_text(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  template:\n    spec:\n"
        "      containers:\n      - {name: main, image: 'registry.example.com/team/web:1.2'}\n"
        "      - {name: proxy, image: envoy:1.30}\n"
    )
    app = web_app(tmp_path, manifests=manifest)
    objects = user_objects.load(app, "devloop/web:abc")
    containers = objects[0]["spec"]["template"]["spec"]["containers"]
    assert [c["image"] for c in containers] == ["devloop/web:abc", "envoy:1.30"]
    manifest.write_text("apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec: {ports: [1, 2}\n")
    with pytest.raises(ProviderError, match=rf"{manifest}:4:\d+: the manifest does not parse"):
        user_objects.load(app, "devloop/web:abc")
    manifest.write_text("apiVersion: v1\nkind: Service\nmetadata: {name: web}\n")
    with pytest.raises(ProviderError, match="no Deployment has a container whose image is 'web'"):
        user_objects.load(app, "devloop/web:abc")
    assert os.path.exists(manifest)  # never touched


async def test_a_kubeconfig_context_needs_no_kind(
    tmp_path: Path, fake_kind: FakeKind, monkeypatch: pytest.MonkeyPatch, web_image: str
) -> None:
    config = tmp_path / "team-kubeconfig"
    config.write_text(fake_kind.cluster.kubeconfig_text("team-dev"))  # type: ignore[attr-defined]
    monkeypatch.setenv("KUBECONFIG", str(config))
    monkeypatch.setenv("PATH", "/usr/bin:/bin")  # no kind at all
    project = ProjectSpec(tmp_path / "devloop.yaml", (web_app(tmp_path),), context="team-dev")
    provider = KindProvider(project)
    try:
        description = await provider.ensure_platform(lambda _text: None)
        assert "(context team-dev, unknown cluster team-dev, namespace devloop-" in description
        assert description.endswith("images via a registry (none set))")
        with pytest.raises(ProviderError, match="context team-dev needs a registry") as caught:
            await provider.deliver(web_app(tmp_path), web_image, lambda _text: None)
        assert caught.value.hint is not None and "--registry" in caught.value.hint
    finally:
        await provider.close()
    assert fake_kind.calls() == []


async def test_a_k3d_context_is_detected_and_its_images_go_in_with_k3d_import(
    tmp_path: Path, fake_kind: FakeKind, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The context's name says k3d (as `k3d cluster create dev` writes it): no kind, `k3d image import -c dev`."""
    config = tmp_path / "kubeconfig"
    config.write_text(fake_kind.cluster.kubeconfig_text("k3d-dev"))  # type: ignore[attr-defined]
    k3d_state = tmp_path / "k3d"
    k3d_state.mkdir()
    (k3d_state / "clusters").write_text("dev\n")
    monkeypatch.setenv("KUBECONFIG", str(config))
    monkeypatch.setenv("FAKE_K3D_STATE", str(k3d_state))
    from devloop.providers.kind import delivery

    monkeypatch.setattr(delivery, "engine_image_store", lambda: None)
    project = ProjectSpec(tmp_path / "devloop.yaml", (web_app(tmp_path),), context="k3d-dev")
    provider = KindProvider(project)
    try:
        description = await provider.ensure_platform(lambda _text: None)
        assert "(context k3d-dev, k3d cluster dev, namespace " in description
        assert description.endswith("images via k3d image import)")
        progress: list[str] = []
        assert await provider.deliver(web_app(tmp_path), "devloop/web:abc", progress.append) == "devloop/web:abc"
        assert "to k3d cluster dev via k3d image import in" in progress[0]
    finally:
        await provider.close()
    assert (k3d_state / "calls").read_text().splitlines() == ['["image", "import", "devloop/web:abc", "-c", "dev"]']
    assert fake_kind.calls() == []


async def test_docker_desktop_on_this_engine_runs_the_built_image_without_a_copy(
    tmp_path: Path, fake_kind: FakeKind, monkeypatch: pytest.MonkeyPatch, web_image: str
) -> None:
    """The fake kubelet runs pods on this very engine, as Docker Desktop's does: no copy at all,
    and a manifest's `imagePullPolicy: Always` (which would pull a tag no registry serves) is not kept."""
    config = tmp_path / "kubeconfig"
    config.write_text(fake_kind.cluster.kubeconfig_text("docker-desktop"))  # type: ignore[attr-defined]
    monkeypatch.setenv("KUBECONFIG", str(config))
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    cluster = fake_kind.cluster
    kind_node = cluster.call(cluster.api.fetch, "v1", "nodes", None, "devloop-control-plane")  # type: ignore[attr-defined]
    cluster.call(cluster.api.drop, "v1", "nodes", kind_node)  # type: ignore[attr-defined]
    cluster.call(cluster.api.add_node, "docker-desktop", 0, "docker://27.3.1")  # type: ignore[attr-defined]
    manifest = tmp_path / "deployment.yaml"
    manifest.write_text(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n"
        "  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n"
        "    spec:\n      containers:\n      - {name: main, image: web, imagePullPolicy: Always,\n"
        "         env: [{name: PORT, value: '8080'}], ports: [{containerPort: 8080}],\n"
        "         readinessProbe: {httpGet: {path: /, port: 8080}}}\n"
    )
    project = ProjectSpec(tmp_path / "devloop.yaml", (web_app(tmp_path),), context="docker-desktop")
    provider = KindProvider(project)
    try:
        description = await provider.ensure_platform(lambda _text: None)
        assert "docker-desktop cluster docker-desktop" in description
        assert description.endswith("images via shared engine (no copy))")
        app = web_app(tmp_path, instances=1, manifests=manifest)
        progress: list[str] = []
        reference = await provider.deliver(app, web_image, progress.append)
        assert reference == web_image and "via shared engine (no copy)" in progress[0]
        deployed = await provider.deploy(app, reference, lambda _text: None)
        assert deployed.url is not None and await asyncio.to_thread(http_get, deployed.url) == "hi"
    finally:
        await provider.close()
    assert fake_kind.calls() == []


def test_down_cluster_deletes_the_kind_cluster(tmp_path: Path, fake_kind: FakeKind) -> None:
    import sys

    (fake_kind.state / "clusters").write_text("devloop\n")
    (tmp_path / "devloop.yaml").write_text("version: 1\napps:\n  - name: web\n    path: .\n")
    (tmp_path / "requirements.txt").write_text("")
    (tmp_path / "app.py").write_text("print('hi')\n")
    done = subprocess.run([sys.executable, "-m", "devloop", "down", "--cluster"], cwd=tmp_path,
                          env={**os.environ, **fake_kind.env()}, capture_output=True, text=True, timeout=60)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "deleted kind cluster devloop"
    assert ["delete", "cluster", "--name", "devloop"] in fake_kind.calls()
    assert (fake_kind.state / "clusters").read_text().split() == []


async def test_status_without_up_lists_the_pods(
    provider: KindProvider, web_image: str, tmp_path: Path, fake_kind: FakeKind
) -> None:
    import json
    import sys

    (tmp_path / "devloop.yaml").write_text(
        "version: 1\nprovider: kind\napps:\n  - {name: web, path: ., instances: 2, port: 8080}\n"
    )
    (tmp_path / "index.html").write_text("hi\n")
    await provider.ensure_platform(lambda _text: None)
    await provider.deploy(
        web_app(tmp_path), await provider.deliver(web_app(tmp_path), web_image, print), print
    )
    done = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-m", "devloop", "status", "--json"], cwd=tmp_path,
        env={**os.environ, **fake_kind.env()}, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    row = json.loads(done.stdout)["apps"][0]
    assert row["name"] == "web" and row["instances"] == {"running": 2, "desired": 2}
    assert sorted(i["index"] for i in row["instance_list"]) == [0, 1]


async def test_restart_rolls_every_pod_and_keeps_serving(
    provider: KindProvider, web_image: str, tmp_path: Path
) -> None:
    await provider.ensure_platform(lambda _text: None)
    app = web_app(tmp_path)
    deployed = await provider.deploy(app, web_image, lambda _text: None)
    before = {i.id for i in (await provider.instances(app)).instances}
    assert await provider.restart(app, lambda _text: None) == 2
    after = {i.id for i in (await provider.instances(app)).instances if i.state == "running"}
    assert len(after) == 2 and not after & before  # every pod replaced, one at a time
    assert deployed.url is not None and await asyncio.to_thread(http_get, deployed.url) == "hi"


async def test_a_user_manifest_app_serves_and_logs_through_its_own_container_name(
    provider: KindProvider, web_image: str, tmp_path: Path
) -> None:
    manifest = tmp_path / "deployment.yaml"
    manifest.write_text(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  replicas: 2\n"
        "  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n"
        "    spec:\n      containers:\n      - name: main\n        image: web\n"
        "        env: [{name: PORT, value: '8080'}, {name: GREETING, value: from-user-yaml}]\n"
        "        ports: [{containerPort: 8080}]\n"
        "        readinessProbe: {httpGet: {path: /, port: 8080}}\n"
    )
    await provider.ensure_platform(lambda _text: None)
    app = web_app(tmp_path, manifests=manifest)
    deployed = await provider.deploy(app, web_image, lambda _text: None)
    assert deployed.url is not None and await asyncio.to_thread(http_get, deployed.url) == "from-user-yaml"
    instances = (await provider.instances(app)).instances
    assert sorted(i.index for i in instances) == [0, 1] and all(i.state == "running" for i in instances)
    # Logs come from the container the user named `main` (asking for `web` would be a 400).
    texts = [line.text for i in instances async for line in provider.tail(i, None, follow=False)]
    assert any('"GET / HTTP/1.1" 200' in text for text in texts), texts
    assert await provider.remove([app]) == 2


@pytest.mark.fault("pods replaced by rollouts under load")
async def test_redeploy_under_load_through_the_router_fails_no_request(
    provider: KindProvider, web_image: str, tmp_path: Path
) -> None:
    """The router follows the pod watch (as in `devloop up`): pods replaced by a rollout leave rotation."""
    await provider.ensure_platform(lambda _text: None)
    app = web_app(tmp_path, env=(("GREETING", "v0"),))
    image = await provider.deliver(app, web_image, lambda _text: None)
    deployed = await provider.deploy(app, image, lambda _text: None)
    assert deployed.url == f"http://web.localhost:{provider.router.port}"

    async def follow() -> None:
        async for _change in provider.watch_instances([app]):
            pass

    watcher = asyncio.create_task(follow())
    host = deployed.url.removeprefix("http://")
    try:
        async with Load(provider.router.port or 0, host) as load:
            for version in (1, 2):
                wanted = 30 * version
                await async_wait_until(lambda: load.total() > wanted, timeout=30)  # noqa: B023
                await provider.deploy(
                    web_app(tmp_path, env=(("GREETING", f"v{version}"),)), image, lambda _t: None
                )
            before = load.total()
            await async_wait_until(lambda: load.total() > before + 30, timeout=30)
    finally:
        watcher.cancel()
        await asyncio.gather(watcher, return_exceptions=True)
    assert load.result.failed == 0, load.result.failures
    assert {"v0", "v1", "v2"} <= set(load.result.bodies)


def pod_env(cluster: object, app: str) -> dict[str, str] | None:
    """The environment of the app's newest running container, as the fake kubelet started it."""
    api = cluster.api  # type: ignore[attr-defined]
    keys = [k for k, _c in cluster.call(lambda: list(api.containers.items())) if f"/{app}-" in k]  # type: ignore[attr-defined]
    client = docker.from_env()
    try:
        found = [client.containers.get(cluster.call(lambda k=k: api.containers[k])) for k in keys]  # type: ignore[attr-defined]
    except docker.errors.NotFound:
        return None
    finally:
        client.close()
    running = sorted((c for c in found if c.status == "running"), key=lambda c: c.attrs["Created"])
    return dict(item.split("=", 1) for item in running[-1].attrs["Config"]["Env"]) if running else None


async def test_an_unset_secret_variable_is_gone_from_the_new_pods(
    provider: KindProvider, web_image: str, tmp_path: Path, fake_kind: FakeKind
) -> None:
    await provider.ensure_platform(lambda _text: None)
    both = web_app(tmp_path, instances=1, secret_env=(("TOKEN", "t1"), ("OLD_KEY", "k1")))
    await provider.deploy(both, web_image, lambda _text: None)
    assert (pod_env(fake_kind.cluster, "web") or {}).get("OLD_KEY") == "k1"
    await provider.deploy(
        web_app(tmp_path, instances=1, secret_env=(("TOKEN", "t2"),)), web_image, lambda _t: None
    )
    secret = fake_kind.cluster.call(
        fake_kind.cluster.api.fetch, "v1", "secrets", provider.namespace, "web-secrets"
    )  # type: ignore[attr-defined]
    assert set(secret["data"]) == {"TOKEN"}
    env = await async_wait_until(
        lambda: (e := pod_env(fake_kind.cluster, "web")) and e.get("TOKEN") == "t2" and e, timeout=30
    )
    assert "OLD_KEY" not in env


async def test_a_past_rollouts_deadline_does_not_fail_the_next_one(
    provider: KindProvider, web_image: str, tmp_path: Path
) -> None:
    """`ProgressDeadlineExceeded` of the previous generation stays on the Deployment until the
    controller observes the new one: it is read only once observedGeneration caught up."""
    manifest = tmp_path / "deployment.yaml"

    def write(probe_port: int) -> None:
        manifest.write_text(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  progressDeadlineSeconds: 2\n"
            "  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n"
            "    spec:\n      containers:\n      - name: main\n        image: web\n"
            "        env: [{name: PORT, value: '8080'}]\n        ports: [{containerPort: 8080}]\n"
            f"        readinessProbe: {{tcpSocket: {{port: {probe_port}}}, periodSeconds: 1}}\n"
        )

    await provider.ensure_platform(lambda _text: None)
    app = web_app(tmp_path, instances=1, manifests=manifest)
    write(9999)  # nothing listens there: never ready
    with pytest.raises(DeployError, match="has timed out progressing"):
        await provider.deploy(app, web_image, lambda _text: None)
    write(8080)
    deployed = await provider.deploy(app, web_image, lambda _text: None)
    assert deployed.url is not None and await asyncio.to_thread(http_get, deployed.url) == "hi"


def test_exported_and_applied_pods_get_no_service_links(tmp_path: Path) -> None:
    from devloop.core.services import CATALOG, ServiceSpec
    from devloop.providers.kind import objects, service_objects

    app = web_app(tmp_path, processes=())
    built = [*objects.app_objects(app, "web:1", project="p"),
             *service_objects.service_objects(ServiceSpec("redis", CATALOG["redis"]), "pw", "p")]  # fmt: skip
    templates = [o["spec"]["template"]["spec"] for o in built if o["kind"] in ("Deployment", "StatefulSet")]
    assert len(templates) == 2 and all(t["enableServiceLinks"] is False for t in templates)


async def test_an_app_whose_name_starts_with_a_digit_gets_a_valid_service_name(
    tmp_path: Path, web_image: str, fake_kind: FakeKind
) -> None:
    """`1web` is a fine DNS-1123 label (Deployment, pods) but not a DNS-1035 one (Service)."""
    app = web_app(tmp_path, name="1web", instances=1)
    provider = KindProvider(ProjectSpec(tmp_path / "devloop.yaml", (app,)))
    try:
        await provider.ensure_platform(lambda _text: None)
        deployed = await provider.deploy(
            app, await provider.deliver(app, web_image, lambda _t: None), lambda _t: None
        )
        assert deployed.url is not None and await asyncio.to_thread(http_get, deployed.url) == "hi"
        cluster = fake_kind.cluster
        ingress = cluster.call(
            cluster.api.fetch, "networking.k8s.io/v1", "ingresses", provider.namespace, "1web"
        )  # type: ignore[attr-defined]
        service = ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]["name"]
        assert service == "app-1web"
        assert cluster.call(cluster.api.fetch, "v1", "services", provider.namespace, service) is not None  # type: ignore[attr-defined]
    finally:
        await provider.close()


def test_dns_label_keeps_valid_names_and_fixes_the_rest() -> None:
    from devloop.core.names import dns_label

    assert dns_label("web") == "web" and dns_label("my-app2") == "my-app2"
    assert dns_label("1web") == "app-1web" and dns_label("42") == "app-42"
    assert dns_label("Web_API") == "web-api" and len(dns_label("9" * 80)) == 63


async def test_a_sync_into_an_image_without_tar_says_why(provider: KindProvider, tmp_path: Path) -> None:
    """The exec of a missing binary never starts: the API server's Status says why, with no stderr."""
    from devloop.core.changes import SyncCopy

    image = build('FROM busybox:1.36\nRUN rm /bin/tar\nUSER 10001\nCMD ["sleep", "600"]\n')
    await provider.ensure_platform(lambda _text: None)
    app = web_app(tmp_path, instances=1, no_route=True, health=HealthCheck(HealthCheckType.PROCESS))
    await provider.deploy(app, image, lambda _text: None)
    (tmp_path / "app.py").write_text("print('changed')\n")
    with pytest.raises(ProviderError) as caught:
        await provider.sync(app, (SyncCopy("app.py", "/app/app.py"),))
    assert "`tar -x -m` in pod web-" in str(caught.value)
    assert 'exec: "tar": executable file not found in $PATH' in str(caught.value)


async def test_a_root_image_whose_entrypoint_chowns_runs_as_on_docker(
    provider: KindProvider, tmp_path: Path
) -> None:
    """nginx/httpd-style entrypoints chown their folders as root before dropping to their user: that
    needs the runtime's default capabilities, which `drop: [ALL]` takes away."""
    image = build('FROM busybox:1.36\nRUN mkdir /run/app\n'
                  'CMD ["sh", "-c", "chown 65534:65534 /run/app && exec sleep 600"]\n')  # fmt: skip
    await provider.ensure_platform(lambda _text: None)
    app = web_app(tmp_path, instances=1, no_route=True, health=HealthCheck(HealthCheckType.PROCESS))
    await provider.deploy(app, image, lambda _text: None)
    instances = (await provider.instances(app)).instances
    assert [i.state for i in instances] == ["running"]
    assert "ALL" in json.dumps(provider.objects(app, image))  # export keeps the hardened default


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def mapped_ports(fake_kind: FakeKind) -> list[int]:
    import yaml

    create = next(c for c in fake_kind.calls() if c[:2] == ["create", "cluster"])
    config = yaml.safe_load(Path(create[create.index("--config") + 1]).read_text())
    return [m["hostPort"] for n in config["nodes"] for m in n.get("extraPortMappings") or []]


async def test_the_new_clusters_ports_never_take_the_routers(
    tmp_path: Path, fake_kind: FakeKind, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The ingress mapping once took 8080, the router's default port too: one of them lost."""
    from devloop.providers.kind import cluster_config

    port = free_port()
    monkeypatch.setattr(cluster_config, "HTTP_HOST_PORT", port)  # the preferred ingress port is the router's
    provider = KindProvider(ProjectSpec(tmp_path / "devloop.yaml", (web_app(tmp_path),), router_port=port))
    try:
        await provider.ensure_platform(lambda _text: None)
    finally:
        await provider.close()
    assert port not in mapped_ports(fake_kind)


@contextlib.contextmanager
def taken_ingress_port(monkeypatch: pytest.MonkeyPatch) -> Iterator[int]:
    """A loopback port another program holds, made kind's preferred ingress port."""
    from devloop.providers.kind import cluster_config

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        monkeypatch.setattr(cluster_config, "HTTP_HOST_PORT", port)
        yield port


async def platform_lines(tmp_path: Path) -> list[str]:
    """What `ensure_platform` says for a project with the web app, the provider closed after."""
    provider = KindProvider(ProjectSpec(tmp_path / "devloop.yaml", (web_app(tmp_path),)))
    lines: list[str] = []
    try:
        await provider.ensure_platform(lines.append)
    finally:
        await provider.close()
    return lines


async def test_a_taken_ingress_port_is_skipped_before_kind_create(
    tmp_path: Path, fake_kind: FakeKind, monkeypatch: pytest.MonkeyPatch
) -> None:
    """kind binds its host ports when it starts the node: a taken one fails the create late."""
    with taken_ingress_port(monkeypatch) as port:
        lines = await platform_lines(tmp_path)
    http = mapped_ports(fake_kind)[0]
    assert http != port and f"the cluster maps 127.0.0.1:{http}/" in " ".join(lines)


async def test_a_port_taken_between_the_check_and_kind_create_is_tried_again_with_another(
    tmp_path: Path, fake_kind: FakeKind, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another program may bind a port after devloop found it free: kind then fails "port is
    already allocated", and devloop creates the cluster with free ports instead of failing."""
    from devloop.providers.kind import cluster as cluster_module

    with taken_ingress_port(monkeypatch) as port:
        honest = cluster_module._port_is_free
        lied: list[int] = []

        def free_once(candidate: int) -> bool:  # the check ran just before the other program bound it
            if candidate == port and not lied:
                lied.append(candidate)
                return True
            return honest(candidate)

        monkeypatch.setattr(cluster_module, "_port_is_free", free_once)
        lines = await platform_lines(tmp_path)
    creates = [call for call in fake_kind.calls() if call[:2] == ["create", "cluster"]]
    assert len(creates) == 2 and lied == [port]
    assert "a port of the new cluster was taken meanwhile; trying again with free ones" in lines
    assert port not in mapped_ports(fake_kind)


async def test_a_brand_new_clusters_first_deploy_waits_for_its_node(
    tmp_path: Path, fake_kind: FakeKind, web_image: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """kind create returns before its node is Ready unless told to wait; pods meet the not-ready taint."""
    monkeypatch.setenv("FAKE_KIND_NOT_READY_S", "3")
    app = web_app(tmp_path, instances=1)
    provider = KindProvider(ProjectSpec(tmp_path / "devloop.yaml", (app,)))
    try:
        await provider.ensure_platform(lambda _text: None)
        deployed = await provider.deploy(
            app, await provider.deliver(app, web_image, lambda _t: None), lambda _t: None
        )
        assert deployed.url is not None and await asyncio.to_thread(http_get, deployed.url) == "hi"
    finally:
        await provider.close()
    create = next(c for c in fake_kind.calls() if c[:2] == ["create", "cluster"])
    assert "--wait" in create


async def test_a_starting_node_only_delays_a_rollout(
    provider: KindProvider, tmp_path: Path, fake_kind: FakeKind, web_image: str
) -> None:
    """A reused cluster whose node turns NotReady (Docker restarted): its pods wait, they do not fail."""
    await provider.ensure_platform(lambda _text: None)
    cluster = fake_kind.cluster
    cluster.call(cluster.api.add_node, "devloop-control-plane", 3.0)  # type: ignore[attr-defined]
    deployed = await provider.deploy(web_app(tmp_path, instances=1), web_image, lambda _t: None)
    assert deployed.url is not None and await asyncio.to_thread(http_get, deployed.url) == "hi"


async def test_a_user_manifests_own_app_label_is_never_overwritten(
    provider: KindProvider, tmp_path: Path
) -> None:
    """Overwriting app.kubernetes.io/name in a pod template breaks a selector that names it (422)."""
    manifest = tmp_path / "deployment.yaml"
    manifest.write_text(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n"
        "  selector: {matchLabels: {app.kubernetes.io/name: frontend}}\n"
        "  template:\n    metadata: {labels: {app.kubernetes.io/name: frontend}}\n"
        "    spec:\n      containers: [{name: web, image: web}]\n"
    )
    await provider.ensure_platform(lambda _text: None)
    with pytest.raises(ProviderError) as caught:
        await provider.deploy(
            web_app(tmp_path, instances=1, manifests=manifest), "busybox:1.36", lambda _t: None
        )
    assert "its pods are labelled app.kubernetes.io/name=frontend, and devloop finds app web's pods" in str(
        caught.value
    )
    assert "set `app.kubernetes.io/name: web` in the pod template" in caught.value.render()


async def test_a_user_manifests_other_kinds_go_where_discovery_says(
    provider: KindProvider, tmp_path: Path, web_image: str, fake_kind: FakeKind
) -> None:
    """A ClusterRole is cluster-scoped: guessing every unknown kind namespaced sent it to a 404."""
    manifest = tmp_path / "k8s.yaml"
    manifest.write_text(
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: web-reader}\n"
        "rules: [{apiGroups: [''], resources: [pods], verbs: [get]}]\n---\n"
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n"
        "  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n"
        "    spec:\n      containers: [{name: main, image: web, env: [{name: PORT, value: '8080'}]}]\n"
        "---\napiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\n"
    )
    await provider.ensure_platform(lambda _text: None)
    app = web_app(tmp_path, instances=1, manifests=manifest, health=HealthCheck(HealthCheckType.PROCESS))
    with pytest.raises(ProviderError, match=r"does not serve example\.com/v1 \(kind Widget\)"):
        await provider.deploy(app, web_image, lambda _t: None)
    cluster = fake_kind.cluster
    role = cluster.call(cluster.api.fetch, "rbac.authorization.k8s.io/v1", "clusterroles", None, "web-reader")  # type: ignore[attr-defined]
    assert role is not None and "namespace" not in role["metadata"]


async def test_with_dockers_containerd_image_store_images_go_in_as_one_platforms_archive(
    provider: KindProvider, web_image: str, fake_kind: FakeKind, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`kind load docker-image` fails with the containerd image store (kind issue 3795)."""
    from devloop.providers.kind import delivery

    monkeypatch.setenv("FAKE_DOCKER_CONTAINERD_STORE", "1")
    monkeypatch.setattr(delivery, "engine_image_store", lambda: "linux/amd64")
    await provider.ensure_platform(lambda _text: None)
    assert await provider.deliver(web_app(Path(".")), web_image, lambda _t: None) == web_image
    loads = [c for c in fake_kind.calls() if c[:1] == ["load"]]
    assert [c[:2] for c in loads] == [["load", "image-archive"]]


def test_the_containerd_image_store_is_told_from_docker_info() -> None:
    from devloop.providers.kind.registry import node_platform, uses_containerd_store

    classic = {
        "DriverStatus": [["Backing Filesystem", "extfs"], ["Supports d_type", "true"]],
        "Architecture": "x86_64",
    }
    containerd = {
        "DriverStatus": [["driver-type", "io.containerd.snapshotter.v1"]],
        "Architecture": "aarch64",
    }
    assert not uses_containerd_store(classic) and uses_containerd_store(containerd)
    assert node_platform(classic) == "linux/amd64" and node_platform(containerd) == "linux/arm64"


async def test_a_failing_liveness_probe_restarts_the_container(
    provider: KindProvider, web_image: str, tmp_path: Path, fake_kind: FakeKind
) -> None:
    """The fake kubelet kills a container whose liveness probe keeps failing, as the kubelet does."""
    manifest = tmp_path / "deployment.yaml"
    manifest.write_text(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n"
        "  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n"
        "    spec:\n      terminationGracePeriodSeconds: 1\n      containers:\n      - name: main\n        image: web\n"
        "        env: [{name: PORT, value: '8080'}]\n        ports: [{containerPort: 8080}]\n"
        "        startupProbe: {tcpSocket: {port: 8080}, periodSeconds: 1, failureThreshold: 20}\n"
        "        livenessProbe: {tcpSocket: {port: 9999}, periodSeconds: 1, failureThreshold: 2}\n"
    )
    await provider.ensure_platform(lambda _text: None)
    app = web_app(tmp_path, instances=1, manifests=manifest, health=HealthCheck(HealthCheckType.PROCESS))
    await provider.deploy(app, web_image, lambda _t: None)  # ready once started: it has no readiness probe
    cluster = fake_kind.cluster

    def killed() -> dict[str, object] | None:
        pods = cluster.call(lambda: [p for _v, p in cluster.api.items("pods", provider.namespace)])  # type: ignore[attr-defined]
        statuses = [c for p in pods for c in (p.get("status") or {}).get("containerStatuses") or []]
        last = [(c.get("lastState") or {}).get("terminated") for c in statuses]
        return next((t for t in last if t), None)

    last = await async_wait_until(killed, timeout=30, what="the liveness probe's kill")
    assert last["exitCode"] == 137 and "liveness probe failed" in str(last["message"])


async def test_logs_are_kept_per_container_instance(
    provider: KindProvider, tmp_path: Path, fake_kind: FakeKind
) -> None:
    """As the kubelet keeps them: the current run's lines, and with previous=true the run before."""
    image = build(
        'FROM busybox:1.36\nUSER 10001\nCMD ["sh", "-c", "echo run-$(date +%s%N); sleep 1; exit 1"]\n'
    )
    await provider.ensure_platform(lambda _text: None)
    app = web_app(tmp_path, instances=1, no_route=True, health=HealthCheck(HealthCheckType.PROCESS))
    with contextlib.suppress(DeployError):  # it may pass as ready before its first exit, or not
        await provider.deploy(app, image, lambda _t: None)
    cluster = fake_kind.cluster

    def restarted_and_running() -> str | None:
        pods = cluster.call(lambda: [p for _v, p in cluster.api.items("pods", provider.namespace)])  # type: ignore[attr-defined]
        for pod in pods:
            for c in (pod.get("status") or {}).get("containerStatuses") or []:
                if c.get("restartCount", 0) >= 1 and "running" in (c.get("state") or {}):
                    return str(pod["metadata"]["name"])
        return None

    pod = await async_wait_until(restarted_and_running, timeout=30, what="a second run")
    current = await provider.rollouts.log_tail(pod, "web")
    previous = await provider.rollouts.log_tail(pod, "web", previous=True)
    assert len(current) == 1 and len(previous) == 1 and current != previous, (current, previous)
    assert all(line.startswith("run-") for line in current + previous)


async def test_unschedulable_for_a_real_cause_fails_once_it_persists(
    provider: KindProvider,
    tmp_path: Path,
    fake_kind: FakeKind,
    web_image: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from devloop.providers.kind import rollout

    monkeypatch.setattr(rollout, "UNSCHEDULABLE_S", 1.0)
    await provider.ensure_platform(lambda _text: None)
    cluster = fake_kind.cluster

    def taint() -> None:
        node = cluster.api.fetch("v1", "nodes", None, "devloop-control-plane")  # type: ignore[attr-defined]
        node["spec"]["taints"] = [{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}]
        cluster.api.store("v1", "nodes", node, "MODIFIED")  # type: ignore[attr-defined]

    cluster.call(taint)
    with pytest.raises(
        DeployError,
        match=r"cannot be scheduled: 0/1 nodes are available: 1 node\(s\) had untolerated taint \{dedicated: gpu\}",
    ):
        await provider.deploy(web_app(tmp_path, instances=1), web_image, lambda _t: None)
