"""The kept config is the config: after any change the load could see (a file it read, a file that
appeared or went, a symlink retargeted, another --var), the answer is a fresh load's; with none,
the load is not run again. Secrets are never kept, and the loader looks at files only via `files`."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from devloop.config import cache
from devloop.config.loader import load_project, load_vars
from devloop.core.spec import ProjectSpec
from devloop.errors import DevloopError

ROOT = Path(__file__).parents[2]
CONFIG = """\
version: 1
provider: docker
apps:
  - name: web
    path: web
    instances: ((count))
    memory: 128M
    sync:
      - {src: "*.py", dest: /app}
    processes:
      - {type: worker, instances: 1}
  - name: api
    path: api-link
    dockerfile: Dockerfile
"""


@pytest.fixture(autouse=True)
def private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("DEVLOOP_CONFIG_CACHE", raising=False)
    return tmp_path / "cache"


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "project"
    (root / "web").mkdir(parents=True)
    (root / "web" / "requirements.txt").write_text("flask\n")
    (root / "web" / "Procfile").write_text("web: python app.py\nworker: python work.py\n")
    for version in ("api-v1", "api-v2"):
        (root / version).mkdir()
        (root / version / "Dockerfile").write_text(f"FROM busybox:1.36\n# {version}\n")
    (root / "api-link").symlink_to("api-v1")
    (root / "devloop.yaml").write_text(CONFIG)
    (root / "vars.yml").write_text("count: 2\n")
    monkeypatch.chdir(root)
    return root


class Loads:
    """`cache.load` of the project as `devloop` calls it, counting the loads it really ran."""

    def __init__(self, pairs: tuple[str, ...] = ()) -> None:
        self.pairs = pairs
        self.ran = 0

    def fresh(self) -> ProjectSpec:
        return load_project(Path("devloop.yaml"), load_vars([Path("vars.yml")], self.pairs), lenient=False)

    def counted(self) -> ProjectSpec:
        self.ran += 1
        return self.fresh()

    def __call__(self) -> ProjectSpec:
        return cache.load(Path("devloop.yaml"), [Path("vars.yml")], self.pairs, None, False, self.counted)


def outcome(load: Callable[[], ProjectSpec]) -> ProjectSpec | str:
    try:
        return load()
    except DevloopError as exc:
        return f"{type(exc).__name__}: {exc}"


def other_language(p: Path) -> None:
    (p / "web" / "requirements.txt").unlink()
    (p / "web" / "package.json").write_text("{}")


def retarget(p: Path) -> None:
    (p / "api-link").unlink()
    (p / "api-link").symlink_to("api-v2")


CHANGES: dict[str, Callable[[Path], object]] = {
    "config edited": lambda p: (p / "devloop.yaml").write_text(CONFIG.replace("128M", "256M")),
    "config touched, same bytes": lambda p: (p / "devloop.yaml").write_text(CONFIG),
    "vars file edited": lambda p: (p / "vars.yml").write_text("count: 3\n"),
    "a Dockerfile appears": lambda p: (p / "web" / "Dockerfile").write_text("FROM python:3.12-slim\n"),
    "another language": other_language,
    "Procfile edited": lambda p: (p / "web" / "Procfile").write_text("worker: python other.py\n"),
    "Procfile gone": lambda p: (p / "web" / "Procfile").unlink(),
    "symlink retargeted": retarget,
    "app folder gone": lambda p: (p / "api-v1" / "Dockerfile").unlink(),
    "config broken": lambda p: (p / "devloop.yaml").write_text(CONFIG.replace("name: web", "name: Web!")),
    "vars file gone": lambda p: (p / "vars.yml").unlink(),
}  # fmt: skip


@pytest.mark.parametrize("change", list(CHANGES), ids=list(CHANGES))
def test_after_any_change_the_answer_is_a_fresh_loads(project: Path, change: str) -> None:
    loads = Loads()
    assert loads() == loads.fresh() and loads.ran == 1
    assert loads() == loads.fresh() and loads.ran == 1  # kept: not loaded again
    CHANGES[change](project)
    assert outcome(loads) == outcome(loads.fresh)
    if change != "config touched, same bytes":
        assert loads.ran == 2


def test_other_inputs_are_other_entries(project: Path) -> None:
    two, three = Loads(("count=2",)), Loads(("count=3",))
    assert two().apps[0].instances == 2 and three().apps[0].instances == 3
    assert two().apps[0].instances == 2 and (two.ran, three.ran) == (1, 1)


def test_a_failed_load_keeps_nothing(project: Path, private_cache: Path) -> None:
    CHANGES["config broken"](project)
    loads = Loads()
    assert isinstance(outcome(loads), str) and isinstance(outcome(loads), str)
    assert loads.ran == 2
    assert not private_cache.exists() or not any(private_cache.rglob("*.pickle"))


def test_an_env_files_secrets_are_never_kept(project: Path, private_cache: Path) -> None:
    (project / "web" / ".env").write_text("API_TOKEN=hunter2-secret\n")
    config = CONFIG.replace("    memory: 128M\n", "    memory: 128M\n    env_file: .env\n")
    (project / "devloop.yaml").write_text(config)
    loads = Loads()
    assert dict(loads().apps[0].secret_env) == {"API_TOKEN": "hunter2-secret"}
    assert dict(loads().apps[0].secret_env) == {"API_TOKEN": "hunter2-secret"}
    assert loads.ran == 2  # loaded each time
    kept = [p.read_bytes() for p in private_cache.rglob("*")] if private_cache.exists() else []
    assert not any(b"hunter2" in data for data in kept if data)


def test_a_damaged_or_foreign_entry_is_loaded_again(project: Path, private_cache: Path) -> None:
    loads = Loads()
    loads()
    (entry,) = private_cache.rglob("*.pickle")
    entry.write_bytes(b"not a pickle")
    assert loads() == loads.fresh() and loads.ran == 2
    os.chmod(entry, 0o666)  # anyone could have written it: not unpickled
    assert loads() == loads.fresh() and loads.ran == 3


def test_the_least_recently_used_entries_go_beyond_the_limit(
    project: Path, private_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cache, "MAX_ENTRIES", 2)
    first, second, third = (Loads((f"count={n}",)) for n in (1, 2, 3))
    first()
    second()
    for loads, when in ((first, 1), (second, 2)):  # both long unused, the first the longest
        os.utime(cache.entry_for(Path("devloop.yaml"), [Path("vars.yml")], loads.pairs, None, False), (when, when))
    first()  # a hit: used again, so the second is now the least recently used
    third()
    kept = {cache.entry_for(Path("devloop.yaml"), [Path("vars.yml")], loads.pairs, None, False).exists()
            for loads in (first, third)}  # fmt: skip
    assert kept == {True} and len(list(private_cache.rglob("*.pickle"))) == 2
    first(), third()
    assert (first.ran, second.ran, third.ran) == (1, 1, 1)


def test_the_cache_can_be_turned_off(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEVLOOP_CONFIG_CACHE", "0")
    loads = Loads()
    loads()
    loads()
    assert loads.ran == 2


def test_a_kept_config_costs_neither_yaml_nor_pydantic(project: Path, private_cache: Path) -> None:
    probe = (
        "import sys\n"
        "from devloop.cli import main\n"
        "try:\n"
        "    main(['validate', '--vars-file', 'vars.yml'])\n"
        "except SystemExit as exc:\n"
        "    assert exc.code in (0, None), exc.code\n"
        "print(sorted(m for m in ('yaml', 'pydantic') if m in sys.modules), file=sys.stderr)\n"
    )
    env = {"PYTHONPATH": str(ROOT), "XDG_CACHE_HOME": str(private_cache), "HOME": str(project)}
    runs = [subprocess.run([sys.executable, "-c", probe], cwd=project, capture_output=True, text=True,
                           env=env, timeout=60) for _ in range(2)]  # fmt: skip
    assert [r.returncode for r in runs] == [0, 0], runs[-1].stderr
    assert runs[0].stdout == runs[1].stdout and "web: 2 instance(s)" in runs[0].stdout
    assert runs[0].stderr.splitlines()[-1] == "['pydantic', 'yaml']"
    assert runs[1].stderr.splitlines()[-1] == "[]"


# The loader's modules: every look at the file system goes through devloop.config.files.
LOADER_MODULES = ("loader", "common", "cfbuild", "cfcompat", "cfmanifest", "cfschema", "detect", "dotenv",
                  "errors_map", "schema", "yamlpos")  # fmt: skip
FS_CALLS = {"read_text", "read_bytes", "open", "is_file", "is_dir", "exists", "resolve", "iterdir", "glob",
            "rglob", "stat", "lstat", "is_symlink", "readlink", "samefile", "expanduser", "walk"}  # fmt: skip


@pytest.mark.parametrize("module", LOADER_MODULES)
def test_the_loader_looks_at_files_only_through_files(module: str) -> None:
    tree = ast.parse((ROOT / "devloop" / "config" / f"{module}.py").read_text())
    imported = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    assert not imported & {"os", "glob", "shutil", "io"}, module
    direct = [
        f"line {n.lineno}: {ast.unparse(n.func)}"
        for n in ast.walk(tree)
        if isinstance(n, ast.Call)
        and (
            (isinstance(n.func, ast.Attribute) and n.func.attr in FS_CALLS
             and not (isinstance(n.func.value, ast.Name) and n.func.value.id == "files"))
            or (isinstance(n.func, ast.Name) and n.func.id == "open")
        )
    ]  # fmt: skip
    assert direct == []
