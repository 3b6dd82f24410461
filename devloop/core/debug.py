"""Debugging in the loop, the pure rules: which debugger an app's runtime takes, how its start command
is wrapped for it, the environment it needs, and the stable loopback port each instance's debug port
is forwarded to.

Providers do the wiring (the debug image layer, publishing, port-forwards); everything here is a
function of the app's spec and its start command, so each runtime's rule is a table test.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace

from devloop.core.addresses import stable_port
from devloop.core.spec import AppSpec, HealthCheckType, Language, ProjectSpec

DEBUG_OFF, DEBUG_ON, DEBUG_WAIT = "", "on", "wait"  # AppSpec.debug: off, on, pause on start


class DebugUnsupported(ValueError):
    """The app cannot be started under a debugger as it is; the message names what to add."""


@dataclass(frozen=True)
class Runtime:
    """One runtime's debugger: what it is called and the port it listens on inside the instance."""

    name: str  # python, node, go, java
    tool: str  # how the printed line names it: debugpy, inspector, delve, jdwp
    port: int  # the debug port inside the container


PYTHON = Runtime("python", "debugpy", 5678)
NODE = Runtime("node", "inspector", 9229)
GO = Runtime("go", "delve", 2345)
JAVA = Runtime("java", "jdwp", 5005)
RUNTIMES = {r.name: r for r in (PYTHON, NODE, GO, JAVA)}

# Python console scripts run as `python -m MODULE` under debugpy (their module is their name).
PY_SCRIPTS = {"gunicorn": "gunicorn", "uvicorn": "uvicorn", "flask": "flask", "hypercorn": "hypercorn",
              "celery": "celery", "waitress-serve": "waitress", "daphne": "daphne"}  # fmt: skip
_PYTHON = re.compile(r"^python(\d+(\.\d+)?)?$")
_SHELL_SYNTAX = re.compile(r"&&|\|\||[;|`<>]|\$\(")
# Python's own options that take a value (the value is not the script).
_PY_VALUE_OPTS = {"-W", "-X", "-Q"}
DEBUGPY_DIR = "/opt/devloop/debugpy"  # where the debug layer puts debugpy in the image
DLV_PATH = "/opt/devloop/dlv"  # where it puts Delve for Go


@dataclass(frozen=True)
class DebugPlan:
    """How one app's web instances run under their debugger."""

    runtime: Runtime
    command: str  # the start command, as `/bin/sh -c` runs it
    env: tuple[tuple[str, str], ...] = ()
    wait: bool = False  # the debugger holds the process until a client attaches


def unsupported_fix(app: str) -> str:
    return (
        f"{app}: devloop cannot tell how to start this app under a debugger; set `command:` for it "
        "(e.g. `python app.py`, `node server.js`, `java -jar app.jar`), or set `language:`"
    )


def runtime_of(app: AppSpec, argv: tuple[str, ...]) -> Runtime:
    """The app's runtime: its generated build's language, else its start command's program."""
    language = app.build.language if app.build is not None else None
    by_language = {Language.PYTHON: PYTHON, Language.NODE: NODE, Language.GO: GO, Language.JAVA: JAVA}
    if language in by_language:
        return by_language[language]
    words = _program_words(argv)
    program = words[0].rsplit("/", 1)[-1] if words else ""
    if _PYTHON.match(program) or program in PY_SCRIPTS:
        return PYTHON
    if program in ("node", "npm", "npx", "yarn"):
        return NODE
    if program == "java":
        return JAVA
    if program == "dlv":
        return GO
    raise DebugUnsupported(unsupported_fix(app.name))


def start_argv(command: str | None, entrypoint: Iterable[str], cmd: Iterable[str]) -> tuple[str, ...]:
    """What the instance runs: the app's `command` (through a shell, as cf does), else the image's
    ENTRYPOINT and CMD as Docker joins them."""
    if command:
        return ("/bin/sh", "-c", command)
    return (*entrypoint, *cmd)


def _program_words(argv: tuple[str, ...]) -> list[str]:
    """The words of the command proper: a `sh -c STRING` unwrapped, `exec` and `VAR=x` dropped."""
    if _is_shell(argv):
        try:
            words = shlex.split(argv[2])
        except ValueError:
            return []
    else:
        words = list(argv)
    while words and (words[0] == "exec" or re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", words[0])):
        words = words[1:]
    return words


def wrap_python(app: str, argv: tuple[str, ...], wait: bool, port: int = PYTHON.port) -> str:
    """The start command run by debugpy: `python [opts] -m debugpy --listen 0.0.0.0:PORT
    [--wait-for-client] REST`, REST being the script, `-m module` or `-c code` it ran, a console
    script (gunicorn, uvicorn...) as `-m` its module. Raises DebugUnsupported for anything else."""
    if _is_shell(argv) and _SHELL_SYNTAX.search(argv[2]):
        raise DebugUnsupported(
            f"{app}: its command is a shell pipeline ({argv[2]!r}); devloop wraps one program "
            "under debugpy: set `command:` to the python line alone (e.g. `python app.py`)"
        )
    words = _program_words(argv)
    if not words:
        raise DebugUnsupported(unsupported_fix(app))
    program = words[0].rsplit("/", 1)[-1]
    # Frozen stdlib modules (3.11+) can make debugpy miss breakpoints; older Pythons ignore -X.
    listen = ["-Xfrozen_modules=off", "-m", "debugpy", "--listen", f"0.0.0.0:{port}"]
    listen += ["--wait-for-client"] if wait else []
    if program in PY_SCRIPTS:
        return _join(["python", *listen, "-m", PY_SCRIPTS[program]], words[1:], argv)
    if not _PYTHON.match(program):
        raise DebugUnsupported(
            f"{app}: its start command runs {words[0]!r}, not python; devloop starts python apps under "
            "debugpy: set `command:` to the python line (e.g. `python app.py`)"
        )
    options: list[str] = []
    rest = words[1:]
    while rest and rest[0].startswith("-") and rest[0] not in ("-m", "-c", "-"):
        options.append(rest.pop(0))
        if options[-1] in _PY_VALUE_OPTS and rest:
            options.append(rest.pop(0))
    if not rest:
        raise DebugUnsupported(f"{app}: its command starts an interactive python; set `command:` to a script")
    return _join([words[0], *options, *listen], rest, argv)


def _join(head: list[str], rest: list[str], argv: tuple[str, ...]) -> str:
    """`head` then `rest` as one shell command; a shell command's `rest` kept as it was written
    (`$PORT` must still expand), when the words before it were plain ones."""
    if _is_shell(argv) and rest:
        skipped = argv[2].split()[: len(shlex.split(argv[2])) - len(rest)]
        if all(shlex.split(w) == [w] for w in skipped):
            pattern = r"^\s*" + "".join(re.escape(w) + r"\s+" for w in skipped)
            return f"{shlex.join(head)} {re.sub(pattern, '', argv[2]).strip()}"
    return shlex.join([*head, *rest])


def _is_shell(argv: tuple[str, ...]) -> bool:
    """`sh -c STRING` (bash, dash): a command written for a shell."""
    return len(argv) >= 3 and argv[0].rsplit("/", 1)[-1] in ("sh", "bash", "dash") and argv[1] == "-c"


def _joined(env: dict[str, str], name: str, option: str) -> tuple[str, str]:
    current = env.get(name, "").strip()
    return name, f"{current} {option}".strip()


def plan(app: AppSpec, argv: tuple[str, ...]) -> DebugPlan:
    """How `app` (whose instances would run `argv`) runs under its runtime's debugger."""
    wait = app.debug == DEBUG_WAIT
    runtime = runtime_of(app, argv)
    env = app.env_dict
    if runtime is PYTHON:
        return DebugPlan(runtime, wrap_python(app.name, argv, wait), (), wait)
    if not argv:
        raise DebugUnsupported(unsupported_fix(app.name))
    command = argv[2] if argv[:2] == ("/bin/sh", "-c") else shlex.join(argv)
    if runtime is NODE:
        flag = "--inspect-brk" if wait else "--inspect"
        inspect = _joined(env, "NODE_OPTIONS", f"{flag}=0.0.0.0:{NODE.port}")
        return DebugPlan(runtime, command, (inspect,), wait)
    if runtime is JAVA:
        suspend = "y" if wait else "n"
        jdwp = f"-agentlib:jdwp=transport=dt_socket,server=y,suspend={suspend},address=*:{JAVA.port}"
        return DebugPlan(runtime, command, (_joined(env, "JAVA_TOOL_OPTIONS", jdwp),), wait)
    return DebugPlan(runtime, delve_command(argv, wait), (), wait)


def delve_command(argv: tuple[str, ...], wait: bool) -> str:
    """The Go binary run by Delve headless (`dlv exec BINARY --headless ...`), its arguments after `--`."""
    words = _program_words(argv)
    if not words:
        raise DebugUnsupported("the Go app has no start command; set `command:` to the binary")
    dlv = [DLV_PATH, "exec", words[0], "--headless", f"--listen=0.0.0.0:{GO.port}", "--api-version=2",
           "--accept-multiclient", *([] if wait else ["--continue"])]  # fmt: skip
    return shlex.join([*dlv, *(["--", *words[1:]] if words[1:] else [])])


GO_DEBUG_GCFLAGS = "all=-N -l"  # generated Go builds in debug mode: no optimisation, no inlining


def debug_app(app: AppSpec, debug_plan: DebugPlan) -> AppSpec:
    """The app as its debugged instances run: the wrapped command, the debugger's env added."""
    env = dict(app.env)
    env.update(dict(debug_plan.env))
    if debug_plan.runtime is PYTHON:
        env["PYTHONPATH"] = ":".join(p for p in (DEBUGPY_DIR, env.get("PYTHONPATH", "")) if p)
    health = app.health
    if debug_plan.wait:  # nothing answers until a debugger attaches: a process check, not a port
        health = replace(health, type=HealthCheckType.PROCESS)
    return replace(app, command=debug_plan.command, env=tuple(env.items()), health=health)


PAUSED = "does not answer its health check: paused in the debugger? (kept in rotation while debugging)"


def with_debug(project: ProjectSpec, names: Iterable[str], wait: bool = False) -> ProjectSpec:
    """`up --debug [APP...]`: the named apps (all when none) debugged, paused on start with `wait`;
    an app's own `debug:` stays for the others."""
    wanted = set(names)
    mode = DEBUG_WAIT if wait else DEBUG_ON
    apps = tuple(
        replace(a, debug=mode) if not wanted or a.name in wanted or a.display_name in wanted else a
        for a in project.apps
    )
    return replace(project, apps=apps)


def debug_port(project_id: str, app: str, instance: str, is_free: Callable[[int], bool],
               avoid: Iterable[int] = ()) -> int:  # fmt: skip
    """The loopback port instance `instance` (`0`, `worker/1`) of `app` is debugged on: the same every
    run for the same project, app and instance, the next free one when it is taken."""
    return stable_port(project_id, f"{app}/debug/{instance}", is_free, avoid)


def describe(app: str, instance: str, address: str, runtime: Runtime) -> str:
    """`web/0 debug: 127.0.0.1:PORT (debugpy)`: the line printed once per instance."""
    return f"{app}/{instance} debug: {address} ({runtime.tool})"
