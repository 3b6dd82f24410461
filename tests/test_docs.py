"""Docs that are generated must match what generates them."""

from __future__ import annotations

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


def test_readme_starts_with_the_two_commands() -> None:
    lines = (ROOT / "README.md").read_text().splitlines()
    assert "devloop up" in lines[3] and "python3 -m pytest" in lines[4]
