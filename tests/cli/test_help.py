"""`devloop --help` and every command's help stay as they were, and help imports no heavy library;
nor do the one-shot commands (status, logs --recent, build of an up-to-date image, validate).

The expected text is tests/cli/data/help.txt: regenerate it with
`PYTHONPATH=$PWD python3 -m tests.cli.test_help > tests/cli/data/help.txt` when a command's
options change on purpose, and read the diff.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from click.utils import make_default_short_help

from devloop.cli import COMMANDS, cli
from tests.helpers import copy_sample

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


def test_each_listed_summary_is_the_commands_own_help() -> None:
    """`devloop --help` lists summaries from a table (importing no command): they match each command."""
    with click.Context(cli) as ctx:
        for name, where in COMMANDS.items():
            command = cli.get_command(ctx, name)
            assert command is not None and command.name == name
            for limit in (45, 200):
                assert make_default_short_help(where.summary, limit) == command.get_short_help_str(limit), (
                    name
                )


def imported_after(
    tmp_path: Path, *runs: list[str], env: dict[str, str] | None = None, succeed: bool = False
) -> list[str]:
    """The heavy libraries loaded after `devloop` ran with each argv in turn, in a fresh process
    (`succeed`: each run must exit 0)."""
    probe = (
        "import sys\n"
        "from devloop.cli import main\n"
        f"for argv in {list(runs)!r}:\n"
        "    try:\n"
        "        main(argv)\n"
        "    except SystemExit as exc:\n"
        f"        if {succeed!r} and exc.code not in (0, None):\n"
        "            sys.exit(f'{argv} exited {exc.code}')\n"
        f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True,
                            timeout=300, env={**(env or {}), "PYTHONPATH": str(Path(__file__).parents[2])})  # fmt: skip
    assert result.returncode == 0, result.stderr
    return list(ast.literal_eval(result.stdout.strip().splitlines()[-1]))


def test_help_and_fast_commands_import_no_textual_docker_or_kr8s(tmp_path: Path) -> None:
    (tmp_path / "devloop.yaml").write_text("version: 1\napps:\n  - {name: web, image: busybox:1.36}\n")
    fast = (["--help"], ["validate"], ["init", "--help"], ["completion", "bash"], ["--version"])
    assert imported_after(tmp_path, *fast) == []


@pytest.mark.docker
def test_the_one_shot_commands_on_docker_import_no_docker_sdk_textual_or_kr8s(tmp_path: Path) -> None:
    """They read the engine over its socket (devloop.adapters.dockerhttp): the SDK is for writes.
    The first build may build for real; the second finds its image and builds nothing."""
    folder = copy_sample("python-web", tmp_path)
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "XDG_STATE_HOME": str(tmp_path / "state"),
           "XDG_CACHE_HOME": str(tmp_path / "cache"), "XDG_RUNTIME_DIR": str(tmp_path / "run")}  # fmt: skip
    runs = (["build"], ["build"], ["status"], ["status", "--json"], ["logs", "--recent"], ["validate"])
    assert imported_after(folder, *runs, env=env, succeed=True) == []


def test_no_commands_help_imports_textual_or_kr8s(tmp_path: Path) -> None:
    """Each command's module is loaded for its help; only running the dashboard or kind loads those."""
    with click.Context(cli) as ctx:
        names = cli.list_commands(ctx)
    assert imported_after(tmp_path, *([name, "--help"] for name in names)) in ([], ["docker"])


if __name__ == "__main__":
    sys.stdout.write(every_help())
