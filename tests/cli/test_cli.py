"""The `devloop` command as a user runs it: a real subprocess, real files, real Docker."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from devloop import __version__

REPO = Path(__file__).resolve().parents[2]


def devloop(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "devloop", *args],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_version_and_help(tmp_path: Path) -> None:
    assert devloop("--version", cwd=tmp_path).stdout.strip() == f"devloop, version {__version__}"
    out = devloop("--help", cwd=tmp_path).stdout
    for command in ("init", "validate", "doctor", "completion"):
        assert f"  {command} " in out


def test_completion_script(tmp_path: Path) -> None:
    out = devloop("completion", "bash", cwd=tmp_path)
    assert out.returncode == 0 and "_DEVLOOP_COMPLETE" in out.stdout


def test_config_error_is_one_line_no_traceback(tmp_path: Path) -> None:
    (tmp_path / "devloop.yaml").write_text("apps:\n  - name: web\n    instnces: 2\n")
    (tmp_path / "requirements.txt").write_text("")
    result = devloop("validate", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "error: devloop.yaml:3:5: unknown key 'instnces' in apps[0] (did you mean 'instances'?)"
    )
    assert "Traceback" not in result.stderr


def test_validate_lists_apps_and_cf_notices(tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_text("")
    (tmp_path / "manifest.yml").write_text(
        "applications:\n- name: web\n  memory: 64M\n  stack: cflinuxfs4\n  env: {A: ((a))}\n"
    )
    (tmp_path / "vars.yml").write_text("a: 1\n")
    result = devloop("validate", "--vars-file", "vars.yml", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "web: 1 instance(s), 64M, port 8080, generated python Dockerfile" in result.stdout
    assert "warning: manifest.yml:4:3: stack is not honoured locally" in result.stderr


def test_validate_lists_process_types_and_sidecars(tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_text("")
    (tmp_path / "Procfile").write_text("web: python app.py\nworker: python worker.py\n")
    (tmp_path / "manifest.yml").write_text(
        "applications:\n- name: shop\n  processes:\n  - {type: worker, instances: 2}\n"
        "  sidecars:\n  - {name: tap, command: ./tap, process_types: [web, worker]}\n"
    )
    result = devloop("validate", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "    process worker: 2 instance(s), `python worker.py`" in result.stdout  # from the Procfile
    assert "    sidecar tap beside web, worker: `./tap`" in result.stdout


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        ({"Dockerfile": "FROM scratch\n"}, ["Dockerfile"]),
        ({"requirements.txt": ""}, ["python"]),
        ({"pyproject.toml": "[project]\nname='x'\n"}, ["python"]),
        ({"package.json": "{}"}, ["node"]),
        ({"go.mod": "module x\n"}, ["go"]),
        ({"index.html": "<h1>hi</h1>"}, ["static"]),
        ({"api/go.mod": "module x\n", "web/package.json": "{}", "docs/readme.txt": ""}, ["go", "node"]),
    ],
)
def test_init_detects_apps(tmp_path: Path, files: dict[str, str], expected: list[str]) -> None:
    folder = tmp_path / "my_App"
    for name, text in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text)
    result = devloop("init", str(folder), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    written = (folder / "devloop.yaml").read_text()
    found = [
        line.split("(")[-1].rstrip(")") for line in result.stdout.splitlines() if line.startswith("found")
    ]
    assert found == expected
    assert written.startswith("# devloop.yaml, written by `devloop init`")
    # What init writes loads back.
    assert devloop("validate", cwd=folder).returncode == 0
    if len(expected) == 1:
        assert "name: my-app" in written


def test_init_converts_a_cf_manifest_keeping_placeholders(tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_text("")
    (tmp_path / "manifest.yml").write_text(
        "applications:\n- name: shop\n  instances: 3\n  env: {KEY: ((key))}\n  health-check-type: process\n"
    )
    result = devloop("init", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    text = (tmp_path / "devloop.yaml").read_text()
    assert "Converted from manifest.yml" in text and "instances: 3" in text
    assert "KEY: '((key))'" in text and "type: process" in text
    assert devloop("validate", "--var", "key=v", cwd=tmp_path).returncode == 0


FAKE_KIND_BIN = REPO / "tests" / "fakes" / "bin"


@pytest.mark.parametrize("kind_on_path", [False, True])
def test_init_writes_the_provider_this_machine_can_run(tmp_path: Path, kind_on_path: bool) -> None:
    """kind only where kind is installed; else docker, and the file says why."""
    (tmp_path / "requirements.txt").write_text("")
    path = os.pathsep.join([*([str(FAKE_KIND_BIN)] if kind_on_path else []), "/usr/bin", "/bin"])
    assert (shutil.which("kind", path=path) is not None) is kind_on_path
    result = devloop("init", cwd=tmp_path, env={"PATH": path})
    assert result.returncode == 0, result.stderr
    text = (tmp_path / "devloop.yaml").read_text()
    if kind_on_path:
        assert "\nprovider: kind\n" in text and result.stdout.rstrip().endswith("(provider: kind)")
    else:
        assert "\nprovider: docker\n" in text and "\nprovider: kind\n" not in text
        assert "since kind is not installed on this machine" in text
        assert result.stdout.rstrip().endswith("(provider: docker, as kind is not installed)")
    assert devloop("validate", cwd=tmp_path).returncode == 0


def test_init_never_overwrites_without_force(tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_text("")
    (tmp_path / "devloop.yaml").write_text("# mine\n")
    result = devloop("init", cwd=tmp_path)
    assert result.returncode == 2 and "already exists" in result.stderr and "--force" in result.stderr
    assert (tmp_path / "devloop.yaml").read_text() == "# mine\n"
    assert devloop("init", "--force", cwd=tmp_path).returncode == 0
    assert (tmp_path / "devloop.yaml").read_text() != "# mine\n"


def test_init_on_an_empty_folder(tmp_path: Path) -> None:
    result = devloop("init", cwd=tmp_path)
    assert result.returncode == 2 and "no app found" in result.stderr
    assert not (tmp_path / "devloop.yaml").exists()


@pytest.mark.docker
def test_doctor_with_docker_up(tmp_path: Path) -> None:
    result = devloop("doctor", "--provider", "docker", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "[ok  ] docker engine:" in result.stdout
    assert "docker client:" in result.stdout and "builds with" in result.stdout
    assert "ready for devloop up (provider docker)" in result.stdout


def test_doctor_with_docker_down(tmp_path: Path) -> None:
    dead = tmp_path / "dead.sock"
    result = devloop("doctor", "--provider", "docker", cwd=tmp_path, env={"DOCKER_HOST": f"unix://{dead}"})
    assert result.returncode == 3  # the documented code for an unreachable engine, not an undocumented 1
    assert f"[FAIL] docker engine: cannot reach the Docker engine at unix://{dead}" in result.stdout
    assert f"fix: start the Docker engine at DOCKER_HOST=unix://{dead}" in result.stdout
    assert "devloop up cannot work yet: docker engine" in result.stderr
    assert "Traceback" not in result.stderr


def test_doctor_requires_kind_for_the_kind_provider(tmp_path: Path) -> None:
    result = devloop(
        "doctor", "--provider", "kind", cwd=tmp_path, env={"PATH": os.path.dirname(sys.executable)}
    )
    assert result.returncode == 5  # a tool is missing (devloop/errors.py)
    assert "[FAIL] kind: not installed" in result.stdout


def test_doctor_checks_the_ports_devloop_will_listen_on(tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_text("")
    (tmp_path / "devloop.yaml").write_text(
        "version: 1\nprovider: docker\nrouter_port: 18111\nservices: [{name: db, type: postgres, port: 18113}]\n"
        "apps:\n  - {name: web, port: 3000, host_port: 18112, services: [db]}\n"
    )
    result = devloop("doctor", cwd=tmp_path)
    ports = next(line for line in result.stdout.splitlines() if "ports:" in line)
    # The router's port, the app's own port and the service's published one; not the container port.
    assert ports.endswith("18111, 18112, 18113"), ports
