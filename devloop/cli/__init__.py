"""The `devloop` command: the table of its commands (each in its own module, imported when it runs)
and the one place where every DevloopError becomes one line and its exit code."""

from __future__ import annotations

import os
import sys

import click

from devloop import __version__
from devloop.cli.lazy import LazyCommand, LazyGroup
from devloop.errors import DevloopError


def _at(module: str, attribute: str, summary: str) -> LazyCommand:
    return LazyCommand(f"devloop.cli.{module}", attribute, summary)


COMMANDS = {
    # setting up
    "init": _at("init", "init_command", "Detect the apps in PATH and write a commented devloop.yaml."),
    "validate": _at("validate", "validate", "Load and check the config; print the apps it defines."),
    "doctor": _at("doctor", "doctor_command", "Check Docker, kind, disk, inotify, ports and kubeconfig; "
                  "exit 3, 5 or 6 if `up` cannot work."),
    "export": _at("export", "export_command",
                  "Write the Kubernetes objects devloop would apply (yaml, kustomize or helm)."),
    "completion": _at("completion", "completion",
                      'Print the shell completion script, e.g. `eval "$(devloop completion bash)"`.'),
    "prune": _at("prune", "prune_command", "Remove old images of the apps beyond the newest N per app "
                 "(engine, registry, kind nodes); --dry-run says what would go."),
    "pack": _at("pack", "pack_command",
                "Write one archive of the images and wheels a room with no network needs for this project."),
    "unpack": _at("pack", "unpack_command",
                  "Check a workshop archive, load its images into the engine; "
                  "print how to install its wheels."),
    # the loop, and its one-shot pieces
    "up": _at("up", "up_command",
              "Build, deploy and follow the apps; rebuild or sync on every save (Ctrl-C to stop)."),
    "build": _at("lifecycle", "build",
                 "Build the apps' images (all, or APPS), tagged by a hash of their inputs."),
    "push": _at("lifecycle", "push", "Build and deploy once, wait for health, print where the apps serve, "
                "exit (like `cf push`)."),
    "trigger": _at("lifecycle", "trigger",
                   "Build and deploy queued changes now (all apps, or APPS), as in manual mode."),
    "down": _at("lifecycle", "down", "Remove the apps' instances (all apps, or APPS) and the services; "
                "--purge their data too."),
    # cf's app commands
    "status": _at("apps", "status", "Apps, state, instances, memory and URL (like `cf apps`)."),
    "debug-config": _at("debugconfig", "debug_config",
                        "The IDE's attach settings (host, port, paths) for the apps run with `up --debug`."),
    "scale": _at("apps", "scale",
                 "Change an app's instances or memory in the running `devloop up` (like `cf scale`)."),
    "restart": _at("apps", "restart", "Restart an app's instances one at a time (like `cf restart`)."),
    "ssh": _at("apps", "ssh", "A shell in one instance of an app (like `cf ssh`)."),
    "open": _at("apps", "open_app", "Open an app's URL in the browser."),
    "task": _at("tasks", "task_command",
                "Run a one-off process in an app's current image (like `cf run-task`)."),
    "logs": _at("logs", "logs_command", "Follow every instance's output, stern-style (like `cf logs`)."),
    "events": _at("events", "events",
                  "What happened to the apps: pushed, crashed, scaled, restarted (like `cf events`)."),
    "env": _at("env", "env", "An app's system- and user-provided environment, read from a running instance; "
               "secret values masked (like `cf env`)."),
    "set-env": _at("env", "set_env",
                   "Set an env var in the config file, keeping its comments (like `cf set-env`)."),
    "unset-env": _at("env", "unset_env", "Remove an env var from the config file (like `cf unset-env`)."),
    # cf's service commands
    "services": _at("services", "services_command",
                    "The backing services: type, plan, state and bound apps (like `cf services`)."),
    "service-key": _at("services", "service_key_command",
                       "The credentials bound apps get for service NAME, as JSON (like `cf service-key`)."),
    "service-shell": _at("services", "service_shell_command",
                         "The client of service NAME inside its container (ARGS go to it)."),
    "psql": _at("services", "psql", "psql on postgres service NAME (ARGS go to psql)."),
    "redis-cli": _at("services", "redis_cli", "redis-cli on redis service NAME (ARGS go to redis-cli)."),
}  # fmt: skip


@click.group(cls=LazyGroup, lazy_commands=COMMANDS, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="devloop")
def cli() -> None:
    """cf push / cf logs on a local Kubernetes: build, deploy, watch and follow your apps."""


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the CLI, turning errors into one message and a stable exit code."""
    # devloop's config models are its own, for no pydantic plugin to observe: without this, the
    # first model scans every installed distribution's entry points (~15 ms of each command).
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
    try:
        cli.main(args=argv, prog_name="devloop", standalone_mode=False)
    except DevloopError as exc:
        click.echo(f"error: {exc.render()}", err=True)
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        sys.exit(130)
