"""README promises that no other test pinned down, each proved here at unit level (no Docker).

docs/readme-claims.md maps every README claim to the tests that prove it; these are the
cheap ones written for claims that had none (tests/test_docs.py keeps the map honest).
"""

from __future__ import annotations

import ast
import http.server
import io
import itertools
import json
import shutil
import subprocess
import tarfile
import threading
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from devloop import errors
from devloop.adapters.dockerapi import ContainerSpec, PortBinding
from devloop.cli import cli
from devloop.cli.printer import PlainPrinter
from devloop.core.logbuffer import LogLine
from devloop.core.logformat import format_line
from devloop.core.services import CATALOG, ServiceSpec, binding_env, credentials_for, type_for
from devloop.core.spec import AppSpec, HealthCheck, HealthCheckType, ProjectSpec
from devloop.providers.kind import cluster_config
from tests.fakes.docker import FakeDockerEngine

ROOT = Path(__file__).resolve().parents[1]


# --- What `devloop up` does --------------------------------------------------------------------


def test_log_lines_are_tagged_as_cf_logs_does() -> None:
    """README: `[STG]` build output, `[API]` devloop's events, `[APP/0]` instance 0, `[RTR]` the router."""
    assert format_line(LogLine("web", "STG", "Step 1/5")) == "[STG] web | Step 1/5"
    assert format_line(LogLine("web", "API", "running")) == "[API] web | running"
    assert format_line(LogLine("web", "APP", "listening", 0)) == "[APP/0] web | listening"
    assert format_line(LogLine("web", "RTR", '"GET / HTTP/1.1" 200')) == '[RTR] web | "GET / HTTP/1.1" 200'


def test_no_router_logs_leaves_the_rtr_lines_out_of_the_plain_stream(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """README: `--no-router-logs` leaves the router's access lines out (the plain printer's half)."""
    printer = PlainPrinter(colour=False)
    for line in (LogLine("web", "APP", "app line", 0), LogLine("web", "RTR", "router line")):
        printer.line_unless_router(line)
    assert capsys.readouterr().out.splitlines() == ["[APP/0] web | app line"]


@pytest.mark.parametrize(("args", "router_logs"), [((), True), (("--no-router-logs",), False)])
def test_up_prints_plain_lines_when_output_is_not_a_terminal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: tuple[str, ...], router_logs: bool
) -> None:
    """README: with `--no-tui`, or when output is not a terminal, `devloop up` prints plain lines."""
    (tmp_path / "devloop.yaml").write_text(
        "version: 1\nprovider: docker\napps:\n  - {name: web, image: busybox:1.36}\n"
    )
    seen: dict[str, Any] = {}

    def fake_run_up(project: ProjectSpec, provider: object, **options: Any) -> int:
        seen.update(options)
        return 0

    monkeypatch.setattr("devloop.cli.up.run_up", fake_run_up)
    monkeypatch.setattr("devloop.cli.up.compose", lambda project, **_options: None)
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["up", *args])  # CliRunner's output is no terminal
    assert result.exit_code == 0, result.output
    assert seen["tui"] is False and seen["router_logs"] is router_logs


# --- Routes ------------------------------------------------------------------------------------


@pytest.fixture
def loopback_server() -> Iterator[int]:
    class Hello(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = f"host {self.headers['Host']}\n".encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hello)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def test_curl_resolves_star_localhost_to_the_loopback_address(loopback_server: int) -> None:
    """README: "Browsers and curl resolve `*.localhost` to the loopback address" (no /etc/hosts entry)."""
    curl = shutil.which("curl")
    if curl is None:
        pytest.skip("curl is not installed")
    assert "web.localhost" not in Path("/etc/hosts").read_text()
    result = subprocess.run([curl, "-sS", "--max-time", "10", f"http://web.localhost:{loopback_server}/"],
                            capture_output=True, text=True, timeout=20, check=False)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"host web.localhost:{loopback_server}\n"


async def test_x_in_the_dashboard_hands_the_terminal_to_a_shell_in_instance_0(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """README: the dashboard's `x` opens a shell in the instance (the terminal handed over, then back)."""
    import contextlib

    from devloop.ui.app import DevloopApp
    from tests.ui.fake_engine import FakeEngine, spec

    engine = FakeEngine((spec("web"),))
    engine.running("web")
    ran: list[list[str]] = []
    app = DevloopApp(engine, run_interactive=ran.append)
    monkeypatch.setattr(
        app, "suspend", contextlib.nullcontext
    )  # a headless test has no terminal to hand over
    async with app.run_test(size=(140, 40)) as pilot:
        await pilot.press("x")
        await pilot.pause()
    assert ran == [["/bin/true", "web", "0"]]  # the engine's argv for instance 0 of the selected app


# --- Backing services --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "kind", "variable", "scheme"),
    [
        ("db", "postgres", "DATABASE_URL", "postgres://"),
        ("orders-postgres", "postgres", "DATABASE_URL", "postgres://"),
        ("shop-mysql", "mysql", "DATABASE_URL", "mysql://"),
        ("queue", "redis", "REDIS_URL", "redis://"),
        ("events-rabbitmq", "rabbitmq", "AMQP_URL", "amqp://"),
    ],
)
def test_each_service_type_binds_vcap_services_and_its_url_variable(
    name: str, kind: str, variable: str, scheme: str
) -> None:
    """README: types postgres, mysql, redis, rabbitmq, matched by the type in their name; bound apps get
    cf-shaped `VCAP_SERVICES` and `DATABASE_URL` / `REDIS_URL` / `AMQP_URL`."""
    found = type_for(name) if name not in ("db", "queue") else CATALOG[kind]  # `type:` given, or by name
    assert found is not None and found.name == kind
    service = ServiceSpec(name, found)
    env = binding_env([(service, credentials_for(service, "pw-1"))])
    assert env[variable].startswith(scheme) and f"@{name}:{found.port}" in env[variable]
    (entry,) = json.loads(env["VCAP_SERVICES"])[found.label]
    assert entry["name"] == name and entry["credentials"]["password"] == "pw-1"
    assert entry["credentials"]["uri"] == env[variable]


# --- Providers ---------------------------------------------------------------------------------


def test_devloop_never_runs_kubectl() -> None:
    """README: "No `kubectl` needed": no module of devloop names kubectl as a program to run."""
    spawned = []
    for path in (ROOT / "devloop").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if not (isinstance(node, ast.Constant) and isinstance(node.value, str)):
                continue
            if node.value == "kubectl" or node.value.startswith("kubectl "):
                spawned.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert spawned == []


def test_a_created_kind_cluster_gets_the_local_registry_recipe() -> None:
    """README: devloop wires kind's local-registry recipe into clusters it creates (registry on 127.0.0.1)."""
    from devloop.providers.kind.registry import ensure_kind_registry

    assert 'config_path = "/etc/containerd/certs.d"' in "".join(
        __import__("yaml").safe_load(cluster_config.cluster_config())["containerdConfigPatches"]
    )
    engine = FakeDockerEngine(images=["registry:2"])
    node = engine.add_container("devloop-control-plane")
    engine.networks["kind"] = {node.name}
    said: list[str] = []
    ensure_kind_registry(engine, [node.name], said.append)
    ((spec,),) = engine.called("create_container")
    assert isinstance(spec, ContainerSpec) and spec.name == cluster_config.REGISTRY_NAME
    assert spec.ports == (PortBinding(5000, cluster_config.REGISTRY_PORT, "127.0.0.1"),)  # loopback only
    assert engine.networks["kind"] - {node.name} == {cluster_config.REGISTRY_NAME}  # on the kind network
    ((where, archive),) = engine.named(node.name).archives
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        hosts = tar.extractfile(f"etc/containerd/certs.d/{cluster_config.registry_host()}/hosts.toml")
        assert hosts is not None and hosts.read().decode() == cluster_config.hosts_toml()
    assert where == "/" and said == [
        f"starting the local registry {cluster_config.REGISTRY_NAME} on 127.0.0.1:5001"
    ]
    assert (
        cluster_config.pushed_registry(cluster_config.registry_hosting(cluster_config.registry_host()))
        == "localhost:5001"
    )


class _StalledCluster:
    """Just enough of KubeClient for a rollout that never finishes: one Deployment, its pods."""

    def __init__(self, pods: list[dict[str, Any]]) -> None:
        self.pods = pods

    async def get(self, version: str, path: str, namespace: str | None = None) -> dict[str, Any]:
        return {"metadata": {"name": "web", "generation": 2}, "spec": {"replicas": 1},
                "status": {"observedGeneration": 2, "replicas": 2, "updatedReplicas": 1, "availableReplicas": 1}}  # fmt: skip

    async def list_objects(self, *args: object) -> dict[str, Any]:
        return {"items": self.pods}

    async def request(self, *args: object, **kwargs: object) -> Any:
        return types.SimpleNamespace(status_code=200, text="still starting\n")


def _pod(status: dict[str, Any]) -> dict[str, Any]:
    return {"metadata": {"name": "web-5d9c7-x2k4p", "labels": {"app.kubernetes.io/name": "web"}},
            "spec": {"containers": [{"name": "web", "image": "devloop/web:2"}]}, "status": status}  # fmt: skip


@pytest.mark.parametrize(
    ("status", "said"),
    [
        (
            {
                "containerStatuses": [
                    {"name": "web", "state": {"waiting": {"reason": "ErrImagePull", "message": "not found"}}}
                ]
            },
            "pod web-5d9c7-x2k4p cannot pull its image: not found",
        ),
        (
            {
                "conditions": [
                    {
                        "type": "PodScheduled",
                        "reason": "Unschedulable",
                        "message": "0/1 nodes: Insufficient memory",
                    }
                ]
            },
            "pod web-5d9c7-x2k4p cannot be scheduled: 0/1 nodes: Insufficient memory",
        ),
        ({}, "did not finish within 80s (1 of 1 new pods, 1 available); readiness probes keep failing"),
    ],
    ids=["image-pull", "unschedulable", "readiness"],
)
async def test_a_stalled_rollout_says_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, status: dict[str, Any], said: str
) -> None:
    """README: a rollout that stalls says why (image pull, unschedulable, readiness; crashes and
    `runAsNonRoot` have tests of their own on the fake cluster)."""
    from devloop.errors import DeployError
    from devloop.providers.kind import provider as kind
    from devloop.providers.kind import rollout

    app = AppSpec(
        "web", tmp_path, instances=1, port=8080, health=HealthCheck(HealthCheckType.HTTP, "/", timeout_s=20)
    )
    clock = itertools.count(0, 100)  # each look at the clock is 100 s later: the 80 s budget runs out at once
    monkeypatch.setattr(rollout, "time", types.SimpleNamespace(monotonic=lambda: float(next(clock))))
    provider = kind.KindProvider(ProjectSpec(tmp_path / "devloop.yaml", (app,)))
    provider.cluster._kube = _StalledCluster([_pod(status)])  # type: ignore[assignment]
    with pytest.raises(DeployError) as caught:
        await provider.rollouts.wait(app, "web", "devloop/web:2", lambda _text: None)
    assert said in str(caught.value)


# --- cf to devloop and Configuration -----------------------------------------------------------


def test_f_picks_another_config_file(tmp_path: Path) -> None:
    """README: "`-f PATH` picks another" config file than the folder's devloop.yaml."""
    (tmp_path / "devloop.yaml").write_text("version: 1\napps:\n  - {name: here, image: busybox:1.36}\n")
    other = tmp_path / "elsewhere" / "manifest.yml"
    other.parent.mkdir()
    other.write_text("applications:\n- name: there\n  docker: {image: busybox:1.36}\n")
    result = CliRunner().invoke(cli, ["validate", "-f", str(other)])
    assert result.exit_code == 0, result.output
    assert "  there: 1 instance(s)" in result.output and "  here:" not in result.output


def test_the_samples_the_readme_names_are_there() -> None:
    """README: samples python-web, node-web, go-web, static-site, cf-manifest-app, multi-app, services-app."""
    readme = (ROOT / "README.md").read_text()
    listed = readme[readme.index("Samples in `samples/`:") :].split("\n\n", 1)[0]
    named = [
        "python-web",
        "node-web",
        "go-web",
        "static-site",
        "cf-manifest-app",
        "multi-app",
        "services-app",
    ]
    assert all(name in listed for name in named)
    assert sorted(p.name for p in (ROOT / "samples").iterdir() if p.is_dir()) == sorted(named)


def test_exit_codes_are_the_documented_ones() -> None:
    """README: 2 config or usage, 3 Docker unreachable, 4 build failed, 5 tool missing, 6 platform error
    (a deploy that never got healthy too), 7 file watching."""
    documented: dict[type[errors.DevloopError], int] = {errors.ConfigError: 2, errors.UsageError: 2, errors.DockerUnavailableError: 3,
                  errors.BuildError: 4, errors.BuildContextError: 4, errors.ToolMissingError: 5,
                  errors.ProviderError: 6, errors.DeployError: 6, errors.ImagePullError: 6,
                  errors.DockerRefusedError: 6, errors.DockerNotFoundError: 6, errors.DockerConflictError: 6,
                  errors.WatchError: 7}  # fmt: skip
    assert {cls: cls.exit_code for cls in documented} == documented
    raised = {
        cls for cls in vars(errors).values() if isinstance(cls, type) and issubclass(cls, errors.DevloopError)
    }
    assert raised - {errors.DevloopError} <= set(documented), "an error class with an undocumented code"
