"""`devloop --help` and every command's help stay as they were, and help imports no heavy library.

The expected text is tests/cli/data/help.txt: regenerate it with
`PYTHONPATH=$PWD python3 -m tests.cli.test_help > tests/cli/data/help.txt` when a command's
options change on purpose, and read the diff.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import click
from click.testing import CliRunner

from devloop.cli import cli

EXPECTED = Path(__file__).parent / "data" / "help.txt"
HEAVY = ("textual", "docker", "kr8s")


def every_help() -> str:
    """The group's help, then each command's, in the order `devloop --help` lists them."""
    runner = CliRunner()
    parts = [runner.invoke(cli, ["--help"], prog_name="devloop", terminal_width=100).output]
    with click.Context(cli) as ctx:
        names = cli.list_commands(ctx)
    for name in names:
        result = runner.invoke(cli, [name, "--help"], prog_name="devloop", terminal_width=100)
        assert result.exit_code == 0, result.output
        parts.append(f"=== devloop {name} --help\n{result.output}")
    return "".join(parts)


def test_the_help_of_every_command_is_unchanged() -> None:
    assert every_help() == EXPECTED.read_text()


def test_help_and_fast_commands_import_no_textual_docker_or_kr8s(tmp_path: Path) -> None:
    probe = (
        "import sys\n"
        "from devloop.cli import main\n"
        "for argv in (['--help'], ['validate', '--help'], ['up', '--help'], ['completion', 'bash']):\n"
        "    try:\n"
        "        main(argv)\n"
        "    except SystemExit:\n"
        "        pass\n"
        f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True,
                            timeout=60, env={"PYTHONPATH": str(Path(__file__).parents[2])})  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "[]"


if __name__ == "__main__":
    sys.stdout.write(every_help())
