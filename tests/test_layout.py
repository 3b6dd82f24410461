"""The layout the README's Architecture section draws: each box a package, each module one job of
modest size, and the dependency rules that keep the pure core pure and the UI a consumer."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "devloop"
MAX_LINES = 400
MODULES = sorted(p for p in PACKAGE.rglob("*.py"))


def dotted(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def devloop_imports(path: Path) -> set[str]:
    """Every devloop module `path` imports, at its top or inside a function."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("devloop"):
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.startswith("devloop"))
    return found


def architecture_boxes() -> list[str]:
    """The folder names in the README's Architecture drawing (`watch/`, `providers/kind/`...)."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Architecture", 1)[1].split("\n## ", 1)[0]
    drawing = section.split("```", 2)[1]
    return sorted(set(re.findall(r"\b([a-z]+(?:/[a-z]+)?)/", drawing)))


def test_every_box_of_the_architecture_drawing_is_a_package() -> None:
    boxes = architecture_boxes()
    assert len(boxes) >= 8
    assert [box for box in boxes if not (PACKAGE / box / "__init__.py").is_file()] == []


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_module_is_over_the_size_one_job_needs(path: Path) -> None:
    assert len(path.read_text().splitlines()) <= MAX_LINES


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_module_says_why_it_exists(path: Path) -> None:
    if path.name == "__main__.py":
        return
    assert ast.get_docstring(ast.parse(path.read_text())), "a one-sentence docstring at the top"


# Who may import whom: the pure core from nothing but itself and the error tree; adapters from no
# subsystem that uses them; the UI from the engine's state and requests, never a provider or adapter.
RULES = {
    "devloop.core": ("devloop.core", "devloop.errors"),
    "devloop.adapters": ("devloop.adapters", "devloop.core", "devloop.errors", "devloop.fs"),
    "devloop.config": ("devloop.config", "devloop.core", "devloop.errors", "devloop.fs"),
}
NEVER = {"devloop.ui": ("devloop.providers", "devloop.adapters", "devloop.build", "devloop.cli")}


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(ROOT)))
def test_the_dependency_rules_hold(path: Path) -> None:
    module = dotted(path)
    imports = {i for i in devloop_imports(path) if i != "devloop" and not i.startswith("devloop.__")}
    for package, allowed in RULES.items():
        if module == package or module.startswith(package + "."):
            assert sorted(i for i in imports if not i.startswith(allowed)) == []
    for package, forbidden in NEVER.items():
        if module == package or module.startswith(package + "."):
            assert sorted(i for i in imports if i.startswith(forbidden)) == []
