"""Fixtures shared by the end-to-end tests."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import copy_sample


@pytest.fixture
def python_web(tmp_path: Path) -> Iterator[Path]:
    """A copy of samples/python-web; whatever a test left running is taken down after it."""
    folder = copy_sample("python-web", tmp_path)
    yield folder
    down = subprocess.run([sys.executable, "-m", "devloop", "down"], cwd=folder, capture_output=True,
                          text=True, timeout=60)  # fmt: skip
    assert down.returncode == 0, f"`devloop down` failed, containers may be left running: {down.stderr}"
