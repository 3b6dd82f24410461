"""The pure debugging rules: each runtime's debugger, how a start command is wrapped, the stable ports."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from devloop.core import debug
from devloop.core.spec import AppSpec, BuildSpec, HealthCheckType, Language, ProjectSpec

SRC = Path("/src")
SH = ("/bin/sh", "-c")


def app(language: Language | None = None, **kwargs: object) -> AppSpec:
    build = BuildSpec(SRC, language=language) if language else None
    return AppSpec("web", SRC, build=build, **kwargs)  # type: ignore[arg-type]


PY = "-Xfrozen_modules=off -m debugpy --listen 0.0.0.0:5678"
WRAPS = [
    (("python", "app.py"), f"python {PY} app.py"),  # the generated Dockerfile's CMD
    ((*SH, "python3 -u app.py --port $PORT"), f"python3 -u {PY} app.py --port $PORT"),
    ((*SH, 'PYTHONDEVMODE=1 python app.py --name "a b" $PORT'), f"python {PY} app.py --name \"a b\" $PORT"),
    ((*SH, "exec python -m flask run"), f"python {PY} -m flask run"),
    ((*SH, "gunicorn -b 0.0.0.0:8080 app:app"), f"python {PY} -m gunicorn -b 0.0.0.0:8080 app:app"),
    (("/venv/bin/uvicorn", "main:app"), f"python {PY} -m uvicorn main:app"),
    (("python3.11", "-W", "ignore", "server.py"), f"python3.11 -W ignore {PY} server.py"),
    (("python", "-c", "print(1)"), f"python {PY} -c 'print(1)'"),
]


@pytest.mark.parametrize(("argv", "wrapped"), WRAPS, ids=[" ".join(a) for a, _ in WRAPS])
def test_python_start_commands_run_under_debugpy(argv: tuple[str, ...], wrapped: str) -> None:
    assert debug.wrap_python("web", argv, wait=False) == wrapped


def test_wait_pauses_python_until_a_client_attaches_and_health_is_a_process_check() -> None:
    spec = app(Language.PYTHON, debug=debug.DEBUG_WAIT)
    plan = debug.plan(spec, ("python", "app.py"))
    assert "--wait-for-client" in shlex.split(plan.command) and plan.wait
    view = debug.debug_app(spec, plan)
    assert view.command == plan.command and view.health.type is HealthCheckType.PROCESS
    assert debug.debug_app(app(Language.PYTHON), debug.plan(app(Language.PYTHON), ("python", "a.py"))).health.type \
        is HealthCheckType.PORT  # fmt: skip


REFUSED = [
    ((*SH, "python app.py && echo done"), "shell pipeline"),
    ((*SH, "./run.sh"), "set `command:`"),
    (("busybox", "httpd"), "set `command:`"),
    ((), "set `command:`"),
]


@pytest.mark.parametrize(("argv", "says"), REFUSED, ids=[" ".join(a) or "nothing" for a, _ in REFUSED])
def test_a_command_devloop_cannot_debug_gets_one_message_naming_what_to_add(argv: tuple[str, ...], says: str) -> None:
    spec = app(Language.PYTHON) if argv[:1] == SH[:1] and "python" in " ".join(argv) else app()
    with pytest.raises(debug.DebugUnsupported, match="command") as info:
        debug.plan(spec, argv)
    assert says in str(info.value) and str(info.value).startswith("web: ")


def test_the_runtime_comes_from_the_language_else_the_program() -> None:
    assert debug.runtime_of(app(Language.NODE), ("npm", "start")) is debug.NODE
    assert debug.runtime_of(app(), (*SH, "node server.js")) is debug.NODE
    assert debug.runtime_of(app(), ("java", "-jar", "app.jar")) is debug.JAVA
    assert debug.runtime_of(app(Language.GO), ("/app",)) is debug.GO
    assert debug.runtime_of(app(), ("/venv/bin/python3", "app.py")) is debug.PYTHON


def test_node_and_java_debug_through_their_options_variables_kept_with_the_apps_own() -> None:
    node = debug.plan(app(Language.NODE, env=(("NODE_OPTIONS", "--max-old-space-size=96"),)), ("node", "s.js"))
    assert dict(node.env) == {"NODE_OPTIONS": "--max-old-space-size=96 --inspect=0.0.0.0:9229"}
    assert node.command == "node s.js"
    brk = debug.plan(app(Language.NODE, debug=debug.DEBUG_WAIT), (*SH, "node s.js"))
    assert dict(brk.env) == {"NODE_OPTIONS": "--inspect-brk=0.0.0.0:9229"} and brk.command == "node s.js"
    java = debug.plan(app(Language.JAVA), ("java", "-jar", "/app/app.jar"))
    assert dict(java.env)["JAVA_TOOL_OPTIONS"] == (
        "-agentlib:jdwp=transport=dt_socket,server=y,suspend=n,address=*:5005"
    )


def test_go_runs_under_delve_headless() -> None:
    plan = debug.plan(app(Language.GO), ("/app", "--verbose"))
    assert shlex.split(plan.command) == [debug.DLV_PATH, "exec", "/app", "--headless", "--listen=0.0.0.0:2345",
                                         "--api-version=2", "--accept-multiclient", "--continue", "--", "--verbose"]  # fmt: skip
    assert "--continue" not in debug.plan(app(Language.GO, debug="wait"), ("/app",)).command


def test_the_image_start_command_is_used_when_the_app_sets_none() -> None:
    assert debug.start_argv(None, ("tini", "--"), ("python", "app.py")) == ("tini", "--", "python", "app.py")
    assert debug.start_argv("python app.py", ("x",), ("y",)) == (*SH, "python app.py")


def test_up_debug_names_the_apps_and_leaves_the_others_as_configured() -> None:
    project = ProjectSpec(Path("/p/devloop.yaml"), (AppSpec("web", SRC), AppSpec("api", SRC, debug="on")))
    named = debug.with_debug(project, ["web"], wait=True)
    assert [a.debug for a in named.apps] == ["wait", "on"]
    assert [a.debug for a in debug.with_debug(project, []).apps] == ["on", "on"]


def test_debug_ports_are_stable_per_instance_and_move_on_when_taken() -> None:
    first = debug.debug_port("p1", "web", "0", lambda _p: True)
    assert first == debug.debug_port("p1", "web", "0", lambda _p: True)
    assert first != debug.debug_port("p1", "web", "1", lambda _p: True)
    assert debug.debug_port("p1", "web", "0", lambda p: p != first) != first
    assert debug.describe("web", "0", f"127.0.0.1:{first}", debug.PYTHON) == f"web/0 debug: 127.0.0.1:{first} (debugpy)"


def test_the_status_carries_each_instances_debug_address() -> None:
    from devloop.core.status import AppStatus, Counts, InstanceRow, debug_cell

    rows = (InstanceRow(0, "running", debug="debugpy", debug_address="127.0.0.1:24000"), InstanceRow(1, "running"))
    assert debug_cell(AppStatus("web", "running", Counts(2, 2), instance_list=rows)) == "0 127.0.0.1:24000"
    assert debug_cell(AppStatus("web", "running", Counts(1, 1))) == "-"
