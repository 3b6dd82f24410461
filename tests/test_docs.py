"""Docs that are generated must match what generates them; the README's claims must name real tests."""

from __future__ import annotations

import ast
import functools
import re
from pathlib import Path

from devloop.config.reference import readme_with_cf_attributes, render, undocumented, unlisted_cf_attributes

ROOT = Path(__file__).resolve().parents[1]


def test_config_reference_is_up_to_date() -> None:
    committed = (ROOT / "docs" / "config-reference.md").read_text()
    assert committed == render(), "run: python -m devloop.config.reference > docs/config-reference.md"


def test_every_config_key_is_described() -> None:
    assert undocumented() == []


def test_readme_cf_attributes_are_the_loaders() -> None:
    readme = (ROOT / "README.md").read_text()
    assert readme == readme_with_cf_attributes(readme), "run: python -m devloop.config.reference --readme"


def test_every_cf_attribute_is_listed_as_honoured_mapped_or_noticed() -> None:
    assert unlisted_cf_attributes() == []


def test_readme_screenshot_is_the_running_snapshot() -> None:
    snapshot = ROOT / "tests" / "ui" / "__snapshots__" / "test_snapshots" / "test_running.svg"
    assert (ROOT / "docs" / "screenshot.svg").read_bytes() == snapshot.read_bytes(), (
        "copy the running snapshot to docs/screenshot.svg"
    )


def test_readme_debug_screenshot_is_the_debugging_snapshot() -> None:
    snapshot = ROOT / "tests" / "ui" / "__snapshots__" / "test_snapshots" / "test_debugging.svg"
    assert (ROOT / "docs" / "debug-screenshot.svg").read_bytes() == snapshot.read_bytes(), (
        "copy the debugging snapshot to docs/debug-screenshot.svg"
    )
    assert "![devloop up --debug: the dashboard's Debug column](docs/debug-screenshot.svg)" in (
        ROOT / "README.md"
    ).read_text()


def test_readme_starts_with_the_two_commands() -> None:
    lines = (ROOT / "README.md").read_text().splitlines()
    assert "devloop up" in lines[3] and "python3 -m pytest" in lines[4]


CLAIMS = ROOT / "docs" / "readme-claims.md"
NODE_ID = re.compile(r"`(tests/[\w/]+\.py)::([\w:]+)(?:\[[^\]`]*\])?`")
SCRIPT = re.compile(r"`(scripts/[\w/]+\.py)`")


def readme_headings() -> list[str]:
    """Every heading of README.md (`#` to `###`), outside code blocks."""
    headings, fenced = [], False
    for line in (ROOT / "README.md").read_text().splitlines():
        fenced ^= line.startswith("```")
        if not fenced and re.match(r"#{1,3} ", line):
            headings.append(line.lstrip("#").strip())
    return headings


def claim_tables() -> dict[str, list[str]]:
    """The claims file's sections: heading -> its table's claim rows (header and rule left out)."""
    tables: dict[str, list[str]] = {}
    rows: list[str] = []
    for line in CLAIMS.read_text().splitlines():
        if line.startswith("## "):
            rows = tables.setdefault(line[3:].strip(), [])
        elif line.startswith("|") and not line.startswith(("| claim |", "|---")) and tables:
            rows.append(line)
    return tables


@functools.cache
def functions_in(path: Path) -> set[str]:
    """`name` of each test function of the file and `Class::name` of each method, read with ast."""
    names: set[str] = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            names.add(node.name)
        elif isinstance(node, ast.ClassDef):
            names.update(
                f"{node.name}::{item.name}"
                for item in node.body
                if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef)
            )
    return names


def test_every_readme_section_has_a_claims_table() -> None:
    tables = claim_tables()
    assert [h for h in readme_headings() if not tables.get(h)] == [], f"add a table for it to {CLAIMS.name}"
    assert [h for h in tables if h not in readme_headings()] == [], (
        "a claims section the README no longer has"
    )


def test_every_claim_names_tests_that_exist() -> None:
    missing: list[str] = []
    for heading, rows in claim_tables().items():
        for row in rows:
            ids = NODE_ID.findall(row)
            if not ids:
                missing.append(f"{heading}: no test named for {row.split('|')[1].strip()!r}")
            for path, name in ids:
                if not (ROOT / path).is_file() or name not in functions_in(ROOT / path):
                    missing.append(f"{heading}: {path}::{name}")
            missing += [
                f"{heading}: {script}" for script in SCRIPT.findall(row) if not (ROOT / script).is_file()
            ]
    assert missing == []
