"""Nothing exposed: loopback-only listeners, a planted secret in no output, user-only files.

`devloop up --no-tui` runs as a subprocess on a copy of samples/python-web with a
secret in a `.env` file; then every channel a secret could leak through is read
and searched: up's own output, `status --json`, `env`, `logs --recent`,
`export`, the image (its config, history and every file in its layers) and the
files devloop wrote. The kind provider's listeners and kubeconfig copy are
checked the same way against the fake API server.
"""

from __future__ import annotations

import os
import socket
import stat
import subprocess
import sys
import tarfile
import uuid
from pathlib import Path

import docker
import pytest

from devloop.providers.shared import project_id
from tests.conftest import FakeKind
from tests.devloop_process import DevloopProcess
from tests.e2e.scenario import serves
from tests.helpers import copy_sample, wait_until

pytestmark = pytest.mark.docker
URL = r"^web: (http://web\.localhost:\d+)$"


def listening_addresses(pid: int) -> list[tuple[str, int]]:
    """The (address, port) of every TCP socket `pid` listens on, from /proc (IPv4 and IPv6)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:[") : -1])
    found = []
    for table, family in (("tcp", socket.AF_INET), ("tcp6", socket.AF_INET6)):
        for line in Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] != "0A" or fields[9] not in inodes:  # 0A: LISTEN
                continue
            address, port = fields[1].split(":")
            raw = bytes.fromhex(address)
            # /proc prints each 32-bit word in host (little-endian) order.
            packed = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
            found.append((socket.inet_ntop(family, packed), int(port, 16)))
    return found


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def run_devloop(folder: Path, env: dict[str, str], *args: str) -> str:
    result = subprocess.run([sys.executable, "-m", "devloop", *args], cwd=folder, env={**os.environ, **env},
                            capture_output=True, text=True, timeout=120)  # fmt: skip
    return result.stdout + result.stderr


def image_bytes_contain(image: str, needle: bytes) -> bool:
    """Whether any file in the image's layers holds `needle` (exported from a created container)."""
    client = docker.from_env()
    container = client.containers.create(image, command=["true"])
    try:
        stream = b"".join(container.export(chunk_size=1 << 20))
    finally:
        container.remove(force=True)
        client.close()
    return needle in stream or needle in _tar_names(stream)


def _tar_names(data: bytes) -> bytes:
    import io

    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        return "\n".join(tar.getnames()).encode()


def test_docker_up_exposes_nothing_and_leaks_no_secret(tmp_path: Path) -> None:
    folder = copy_sample("python-web", tmp_path)
    secret = f"planted-{uuid.uuid4().hex}"
    (folder / ".env").write_text(f"API_TOKEN={secret}\n")
    with open(folder / "app.py", "a") as app:
        app.write(f"# {uuid.uuid4().hex}: a build of its own, so devloop writes its files\n")
    dedicated = free_port()
    with open(folder / "devloop.yaml", "a") as config:
        config.write(f"    env_file: .env\n    host_port: {dedicated}\n")
    env = {
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
        "XDG_RUNTIME_DIR": str(tmp_path / "run"),
        "NO_COLOR": "1",
    }
    outputs: dict[str, str] = {}
    devloop = DevloopProcess("up", "--no-tui", cwd=folder, env=env)
    try:
        url = devloop.wait_for(URL, timeout=180).group(1)
        assert serves(url, "hello from python-web")
        assert serves(f"http://127.0.0.1:{dedicated}/", "hello from python-web")

        # Every listener of devloop's process is on the loopback address: router and dedicated port.
        listeners = listening_addresses(devloop.proc.pid)
        assert {port for _addr, port in listeners} >= {int(url.rsplit(":", 1)[1]), dedicated}
        assert all(addr == "127.0.0.1" for addr, _port in listeners), listeners
        # And every port Docker publishes for the instances.
        client = docker.from_env()
        label = f"devloop.project={project_id(folder / 'devloop.yaml')}"
        containers = client.containers.list(filters={"label": label})
        bindings = [
            b for c in containers for bs in c.attrs["NetworkSettings"]["Ports"].values() for b in bs or []
        ]
        instances = [c for c in containers if "devloop.sandbox" not in c.labels]  # sandboxes publish too
        assert len(instances) == 2 and bindings and all(b["HostIp"] == "127.0.0.1" for b in bindings)
        image = instances[0].attrs["Config"]["Image"]
        # No privilege escalation inside the instances either.
        assert all("no-new-privileges" in (c.attrs["HostConfig"]["SecurityOpt"] or []) for c in containers)
        client.close()

        # The secret reaches the app (its hash, printed by the app's shell, matches)...
        import hashlib

        hashed = run_devloop(folder, env, "ssh", "web", "-c", 'printf %s "$API_TOKEN" | sha256sum')
        assert hashlib.sha256(secret.encode()).hexdigest() in hashed
        # ...and nothing else.
        outputs["status --json"] = run_devloop(folder, env, "status", "--json")
        outputs["env"] = run_devloop(folder, env, "env", "web")
        outputs["logs --recent"] = run_devloop(folder, env, "logs", "--recent")
        run_devloop(folder, env, "export", "-o", str(tmp_path / "exported"))
        outputs["export"] = "\n".join(
            p.read_text() for p in (tmp_path / "exported").rglob("*") if p.is_file()
        )
        inspect = subprocess.run(
            ["docker", "image", "inspect", image], capture_output=True, text=True, check=True
        )
        history = subprocess.run(["docker", "history", "--no-trunc", image], capture_output=True, text=True,
                                 check=True)  # fmt: skip
        outputs["image config"] = inspect.stdout
        outputs["image history"] = history.stdout
        assert devloop.interrupt() == 130
    finally:
        devloop.kill()
        run_devloop(folder, env, "down")
    outputs["up"] = devloop.output
    for root in (tmp_path / "cache", tmp_path / "run"):
        for path in root.rglob("*"):
            if path.is_file():
                outputs[str(path)] = path.read_text(errors="replace")
    assert outputs["export"] and "API_TOKEN" in outputs["env"]  # the channels were really read
    leaked = [channel for channel, text in outputs.items() if secret in text]
    assert leaked == [], f"the secret appeared in: {leaked}"
    assert not image_bytes_contain(image, secret.encode()), "the secret is baked into the image"

    # Files devloop wrote for itself: user-only.
    written = [p for root in (tmp_path / "cache", tmp_path / "run") for p in root.rglob("*")]
    assert any(p.name == "Dockerfile" for p in written)
    for path in written:
        mode = stat.S_IMODE(path.lstat().st_mode)
        assert mode & 0o077 == 0, f"{path} is mode {mode:o}"


def test_kind_up_listens_on_loopback_only_and_keeps_the_kubeconfig_private(
    tmp_path: Path, fake_kind: FakeKind
) -> None:
    folder = copy_sample("python-web", tmp_path)
    env = fake_kind.env()
    devloop = DevloopProcess("up", "--no-tui", "--provider", "kind", cwd=folder, env=env)
    try:
        url = devloop.wait_for(URL, timeout=180).group(1)
        assert serves(url, "hello from python-web")
        wait_until(
            lambda: len(listening_addresses(devloop.proc.pid)) >= 3, what="router and two port-forwards"
        )
        listeners = listening_addresses(devloop.proc.pid)
        assert all(addr == "127.0.0.1" for addr, _port in listeners), listeners
        assert devloop.interrupt() == 130
    finally:
        devloop.kill()
    kubeconfigs = list((Path(env["XDG_CACHE_HOME"]) / "devloop" / "kube").glob("*.yaml"))
    assert kubeconfigs
    for path in [*kubeconfigs, kubeconfigs[0].parent]:
        assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0, path


def test_user_manifests_that_run_as_root_or_may_escalate_get_a_warning() -> None:
    from devloop.providers.kind.user_objects import privilege_warnings

    def deployment(pod: dict[str, object], container: dict[str, object]) -> dict[str, object]:
        return {"kind": "Deployment", "metadata": {"name": "web"}, "spec": {"template": {"spec": {
            "securityContext": pod, "containers": [{"name": "main", "securityContext": container}]}}}}  # fmt: skip

    hardened = {"runAsNonRoot": True, "allowPrivilegeEscalation": False}
    assert privilege_warnings([deployment({}, hardened)]) == []
    assert privilege_warnings([deployment({"runAsUser": 0}, {"allowPrivilegeEscalation": False})]) == [
        "Deployment/web container main runs as root"
    ]
    assert privilege_warnings([deployment({}, {"privileged": True, "runAsNonRoot": True})]) == [
        "Deployment/web container main is privileged",
        "Deployment/web container main does not set allowPrivilegeEscalation: false",
    ]
    assert privilege_warnings([deployment({}, {"allowPrivilegeEscalation": False})]) == [
        "Deployment/web container main sets no runAsNonRoot or runAsUser: it runs as the image's user"
    ]


def test_every_kind_listener_devloop_configures_is_on_loopback() -> None:
    import yaml

    from devloop.providers.kind import cluster_config

    config = yaml.safe_load(cluster_config.cluster_config())
    assert config["networking"]["apiServerAddress"] == "127.0.0.1"
    mappings = [m for node in config["nodes"] for m in node.get("extraPortMappings") or []]
    assert mappings and all(m["listenAddress"] == "127.0.0.1" for m in mappings)
