"""A shared cluster (a kubeconfig context no local distribution named): one namespace per developer
and project on one fake API server, each developer seeing and removing only their own apps, and the
router, logs, exec and shells reaching pods through the API server alone (no kind, no kubeconfig of its own)."""

from __future__ import annotations

import asyncio
import re
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from devloop.cli import cli as devloop_cli
from devloop.core.changes import SyncCopy
from devloop.core.spec import ProjectSpec
from devloop.providers.kind.provider import KindProvider
from tests.conftest import FakeKind
from tests.helpers import http_get
from tests.providers.kind.test_provider import web_app, web_image  # noqa: F401 (a module fixture)

pytestmark = pytest.mark.docker


async def test_two_developers_on_one_cluster_see_and_remove_only_their_own_apps(
    tmp_path: Path,
    fake_kind: FakeKind,
    monkeypatch: pytest.MonkeyPatch,
    web_image: str,  # noqa: F811
) -> None:
    config = tmp_path / "team-kubeconfig"
    config.write_text(fake_kind.cluster.kubeconfig_text("team-dev"))  # type: ignore[attr-defined]
    monkeypatch.setenv("KUBECONFIG", str(config))
    monkeypatch.setenv("PATH", "/usr/bin:/bin")  # no kind: the API server is all there is
    providers: dict[str, KindProvider] = {}
    for user in ("alice", "bob"):  # the same project checked out by two developers
        folder = tmp_path / user / "Shop"
        folder.mkdir(parents=True)
        monkeypatch.setenv("USER", user)
        registry = "registry.example.com/team" if user == "alice" else None
        project = ProjectSpec(folder / "devloop.yaml", (web_app(folder, instances=1),), context="team-dev",
                              registry=registry)  # fmt: skip
        providers[user] = KindProvider(project)
    alice, bob = providers["alice"], providers["bob"]

    async def cli(user: str, command: str) -> str:
        """`devloop COMMAND` as `user` runs it on their checkout (in this process: no interpreter start)."""
        config = providers[user].project.file
        config.write_text(f"context: team-dev\napps: [{{name: web, image: {web_image}}}]\n")
        runner = CliRunner(env={"USER": user})
        result = await asyncio.to_thread(runner.invoke, devloop_cli, [command, "-f", str(config)])
        assert result.exit_code == 0, result.output
        return result.output

    assert (alice.namespace, bob.namespace) == ("devloop-alice-shop", "devloop-bob-shop")
    # Bob's namespace was made for him by the cluster's admin, and he may not change namespaces.
    cluster = fake_kind.cluster
    api = cluster.api  # type: ignore[attr-defined]
    made = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": bob.namespace}}
    cluster.call(api.store, "v1", "namespaces", made, "ADDED")
    forbidden = cluster.call(api.inject, "PATCH", rf"/namespaces/{bob.namespace}$", "status", 403, 100)
    try:
        for provider in (alice, bob):
            description = await provider.ensure_platform(lambda _text: None)
            assert f"(context team-dev, unknown cluster team-dev, namespace {provider.namespace}," in description
            if provider.project.registry:  # `registry:` is how images travel to a shared cluster
                assert description.endswith("images via registry registry.example.com/team)")
            app = provider.project.apps[0]
            deployed = await provider.deploy(app, web_image, lambda _text: None)
            # The router reaches the pod over the API server's port-forward.
            assert deployed.url is not None and await asyncio.to_thread(http_get, deployed.url) == "hi"
        seen = {user: (await p.instances(p.project.apps[0])).instances for user, p in providers.items()}
        assert {user: len(found) for user, found in seen.items()} == {"alice": 1, "bob": 1}
        assert seen["alice"][0].id != seen["bob"][0].id
        assert forbidden.hits == 0  # nobody tried

        def names(plural: str, namespace: str) -> list[str]:
            return [o["metadata"]["name"] for _v, o in api.items(plural, namespace)]  # type: ignore[no-any-return]

        for user, provider in providers.items():
            assert cluster.call(names, "pods", provider.namespace) == [seen[user][0].id]
        # sync (tar over exec), exec, logs and a shell go through the API server too
        (bob.project.apps[0].source / "note.txt").write_text("synced through the API server")
        assert await bob.sync(bob.project.apps[0], (SyncCopy("note.txt", "/tmp/note.txt"),)) == 1
        result = await bob.kube.exec(bob.namespace, seen["bob"][0].id, "web", ["cat", "/tmp/note.txt"])
        assert (result.code, result.stdout) == (0, b"synced through the API server")
        logged = [line.text async for line in bob.tail(seen["bob"][0], None, follow=False)]
        assert any('"GET / HTTP/1.1" 200' in text for text in logged), logged  # the router's request
        shell = bob.shell_argv(seen["bob"][0], "echo from-the-pod", tty=False)
        ran = await asyncio.to_thread(subprocess.run, shell, capture_output=True, text=True, timeout=30)
        assert ran.stdout.strip() == "from-the-pod", ran.stderr
        # `devloop down` and `devloop status` as each developer runs them, in their own checkout.
        assert "removed 1 instance(s)" in await cli("alice", "down")
        assert cluster.call(names, "deployments", alice.namespace) == []
        # Her pod is on its way out (its grace period runs: the app is PID 1 and ignores SIGTERM).
        assert {i.state for i in (await alice.instances(alice.project.apps[0])).instances} <= {"stopping"}
        left = await bob.instances(bob.project.apps[0])
        assert [(i.id, i.state) for i in left.instances] == [(seen["bob"][0].id, "running")]
        assert len(cluster.call(names, "deployments", bob.namespace)) == 1
        assert re.search(r"^web\s+running\s+1/1", await cli("bob", "status"), re.M)
    finally:
        for provider in (alice, bob):
            await provider.close()
    assert fake_kind.calls() == []
