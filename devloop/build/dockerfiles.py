"""Dockerfiles devloop writes when an app has none, in the spirit of cf buildpacks.

Each one: dependencies installed in a layer of their own before the source is
copied (so a source edit reuses them), multi-stage where it keeps build tools
out of the final image, a non-root user, and no secrets (the build context for
a generated Dockerfile never holds `.env` files; see `buildcontext`). The source
is copied last, after USER, EXPOSE and CMD: the classic builder commits a layer
for each instruction after the first one a save changes, so metadata after the
COPY cost three commits a save (about half of a rebuild of the python sample). Base
images are the official ones; tests use local stand-ins of the same names.

Pure: the inputs are the app and a view of its folder, so this is tested
without Docker.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass

from devloop.core.debug import GO_DEBUG_GCFLAGS
from devloop.core.processes import WEB, procfile_command
from devloop.core.spec import AppSpec, Language
from devloop.errors import BuildContextError

APP_UID = 10001
PYTHON_IMAGE = "python:3.12-slim"
NODE_IMAGE = "node:22-slim"
GO_IMAGE = "golang:1.23"
GO_RUNTIME_IMAGE = "gcr.io/distroless/static-debian12:nonroot"
STATIC_IMAGE = "busybox:1.36"
JAVA_RUNTIME_IMAGE = "eclipse-temurin:{version}-jre"
JAVA_DEFAULT_VERSION = "17"
# The cf Java buildpack's JRE choice, e.g. JBP_CONFIG_OPEN_JDK_JRE: '{ jre: { version: 21.+ } }'
_JBP_JRE_VERSION = re.compile(r"version:\s*['\"]?(\d+)")


@dataclass(frozen=True)
class SourceView:
    """What the generator needs to know of an app folder."""

    files: frozenset[str]  # top-level file names
    read: Callable[[str], str | None]  # text of a top-level file, or None


def _cmd(argv: list[str]) -> str:
    return "CMD " + json.dumps(argv)


def _shell_cmd(command: str) -> str:
    # As cf does, through a shell; a lone simple command is exec'd by the shell itself.
    return _cmd(["/bin/sh", "-c", command])


def procfile_web(view: SourceView) -> str | None:
    text = view.read("Procfile")
    if not text:
        return None
    return procfile_command(text, WEB)


def start_command(app: AppSpec, view: SourceView) -> str:
    """CMD line: the app's command, a Procfile `web:` entry, or the language's convention."""
    if app.command:
        return _shell_cmd(app.command)
    web = procfile_web(view)
    if web:
        return _shell_cmd(web)
    assert app.build is not None and app.build.language is not None
    language = app.build.language
    if language is Language.PYTHON:
        for name in ("app.py", "main.py", "server.py", "wsgi.py"):
            if name in view.files:
                return _cmd(["python", name])
        raise BuildContextError(
            f"{app.name}: cannot tell how to start this Python app",
            hint="set `command:` in the config, add a Procfile with `web: ...`, or an app.py",
        )
    if language is Language.NODE:
        package = _package_json(app, view)
        scripts = package.get("scripts")
        if isinstance(scripts, dict) and "start" in scripts:
            return _cmd(["npm", "start"])
        main = package.get("main")
        if isinstance(main, str) and main:
            return _cmd(["node", main])
        for name in ("server.js", "index.js", "app.js"):
            if name in view.files:
                return _cmd(["node", name])
        raise BuildContextError(
            f"{app.name}: package.json has no `start` script and no server.js/index.js",
            hint='add "scripts": {"start": "node server.js"} to package.json, or set `command:`',
        )
    raise AssertionError(language)


def _package_json(app: AppSpec, view: SourceView) -> dict[str, object]:
    text = view.read("package.json") or "{}"
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BuildContextError(
            f"{app.name}: package.json is not valid JSON (line {exc.lineno}, column {exc.colno}): {exc.msg}"
        ) from None
    return data if isinstance(data, dict) else {}


def final_stage_user(dockerfile: str) -> str | None:
    """The user the final stage runs as (its last USER), or None when it never sets one.

    Line continuations are joined; parser directives and comments are skipped. Pure.
    """
    joined = re.sub(r"\\\n", " ", dockerfile)
    user: str | None = None
    for raw in joined.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        word, _, rest = line.partition(" ")
        if word.upper() == "FROM":
            user = None  # a new stage starts as its base image's user: unknown, treat as root
        elif word.upper() == "USER":
            user = rest.strip().split(":")[0] or None
    return user


def runs_as_root(dockerfile: str) -> bool:
    user = final_stage_user(dockerfile)
    return user is None or user in ("root", "0")


def generate(app: AppSpec, view: SourceView) -> str:
    assert app.build is not None and app.build.language is not None
    language = app.build.language
    header = (
        f"# Generated by devloop for {app.name} ({language.value}); see `devloop build --print-dockerfile`.\n"
    )
    body = {
        Language.PYTHON: _python,
        Language.NODE: _node,
        Language.GO: _go,
        Language.STATIC: _static,
        Language.JAVA: _java,
    }[language](app, view)
    return header + body


_RUNTIME_TXT = re.compile(r"^python-(\d+)\.(\d+)(?:\.(?:\d+|x))?$", re.I)
_NODE_ENGINE = re.compile(r"^[~^=v]*(\d+)(?:\.(?:\d+|x|\*))*$", re.I)


def python_image(view: SourceView) -> str:
    """The Python the app asks for in `runtime.txt` (`python-3.11.x`), as the cf buildpack reads
    it; the default image otherwise. Only the minor version counts: the image tracks patches."""
    first = (view.read("runtime.txt") or "").strip().splitlines()[:1]
    match = _RUNTIME_TXT.match(first[0].strip()) if first else None
    return f"python:{match.group(1)}.{match.group(2)}-slim" if match else PYTHON_IMAGE


def node_image(app: AppSpec, view: SourceView) -> str:
    """The Node major the app pins in package.json `engines.node` (`18.x`, `^20`, `22`), as the cf
    buildpack honours it; a range without one major (`>=18`) keeps the default image."""
    engines = _package_json(app, view).get("engines")
    wanted = engines.get("node") if isinstance(engines, dict) else None
    match = _NODE_ENGINE.match(wanted.strip()) if isinstance(wanted, str) else None
    return f"node:{match.group(1)}-slim" if match else NODE_IMAGE


def _python(app: AppSpec, view: SourceView) -> str:
    cmd = start_command(app, view)
    image = python_image(view)
    if "requirements.txt" in view.files:
        deps = "COPY requirements.txt ./\nRUN /venv/bin/pip install --no-cache-dir -r requirements.txt\n"
    elif "pyproject.toml" in view.files:
        # Only the dependency metadata first, so a source edit keeps this layer.
        deps = (
            "COPY pyproject.toml ./\n"
            'RUN /venv/bin/python -c "import tomllib,subprocess,sys;'
            "d=tomllib.load(open('pyproject.toml','rb')).get('project',{}).get('dependencies',[]);"
            "d and subprocess.check_call([sys.executable,'-m','pip','install','--no-cache-dir',*d])\"\n"
        )
    else:
        deps = ""
    return f"""\
FROM {image} AS deps
WORKDIR /app
RUN python -m venv /venv
{deps}
FROM {image}
ENV PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 PATH=/venv/bin:$PATH PORT={app.port}
RUN useradd --uid {APP_UID} --no-create-home --shell /usr/sbin/nologin app
COPY --from=deps /venv /venv
WORKDIR /app
USER {APP_UID}:{APP_UID}
EXPOSE {app.port}
{cmd}
COPY --chown={APP_UID}:{APP_UID} . .
"""


def _node(app: AppSpec, view: SourceView) -> str:
    cmd = start_command(app, view)
    image = node_image(app, view)
    lock = "package-lock.json" in view.files
    install = "npm ci --omit=dev" if lock else "npm install --omit=dev"
    copy_lock = " package-lock.json" if lock else ""
    return f"""\
FROM {image} AS deps
WORKDIR /app
COPY package.json{copy_lock} ./
RUN mkdir -p node_modules && {install} --no-audit --no-fund

FROM {image}
ENV NODE_ENV=production PORT={app.port}
RUN useradd --uid {APP_UID} --no-create-home --shell /usr/sbin/nologin app
WORKDIR /app
COPY --from=deps --chown={APP_UID}:{APP_UID} /app/node_modules ./node_modules
USER {APP_UID}:{APP_UID}
EXPOSE {app.port}
{cmd}
COPY --chown={APP_UID}:{APP_UID} . .
"""


def _go(app: AppSpec, view: SourceView) -> str:
    go_sum = " go.sum" if "go.sum" in view.files else ""
    entry = (
        "ENTRYPOINT " + json.dumps(["/bin/sh", "-c", app.command]) if app.command else 'ENTRYPOINT ["/app"]'
    )
    runtime = GO_RUNTIME_IMAGE if not app.command else "debian:bookworm-slim"
    # Under the debugger (`up --debug`): symbols kept, no optimisation or inlining, so Delve's
    # breakpoints and variables match the source; otherwise a small stripped binary.
    flags = f'-gcflags="{GO_DEBUG_GCFLAGS}"' if app.debug else '-trimpath -ldflags="-s -w"'
    return f"""\
FROM {GO_IMAGE} AS build
WORKDIR /src
COPY go.mod{go_sum} ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build {flags} -o /out/app .

FROM {runtime}
ENV PORT={app.port}
USER 65532:65532
EXPOSE {app.port}
{entry}
COPY --from=build /out/app /app
"""


def _static(app: AppSpec, view: SourceView) -> str:
    serve = f"busybox httpd -f -v -p {app.port} -h /www"
    cmd = _shell_cmd(app.command) if app.command else _cmd(shlex.split(serve))
    return f"""\
FROM {STATIC_IMAGE}
USER 65534:65534
EXPOSE {app.port}
{cmd}
COPY --chown=65534:65534 . /www
"""


def java_version(app: AppSpec) -> str:
    """The JRE's major version: the cf Java buildpack's JBP_CONFIG_OPEN_JDK_JRE, else 17."""
    config = dict(app.env).get("JBP_CONFIG_OPEN_JDK_JRE", "")
    match = _JBP_JRE_VERSION.search(config)
    return match.group(1) if match else JAVA_DEFAULT_VERSION


def _java(app: AppSpec, view: SourceView) -> str:
    """A built jar on a JRE, as the cf Java buildpack runs one: `java -jar`, JAVA_OPTS honoured,
    most of the container's memory for the heap (the buildpack's memory calculator does the same)."""
    assert app.build is not None and app.build.artifact is not None
    jar = app.build.artifact.name
    start = 'exec java -XX:MaxRAMPercentage=75 $JAVA_OPTS -jar /app/app.jar'
    cmd = _shell_cmd(app.command) if app.command else _cmd(["/bin/sh", "-c", start])
    return f"""\
FROM {JAVA_RUNTIME_IMAGE.format(version=java_version(app))}
ENV PORT={app.port}
WORKDIR /app
USER {APP_UID}:{APP_UID}
EXPOSE {app.port}
{cmd}
COPY --chown={APP_UID}:{APP_UID} {json.dumps(jar)} /app/app.jar
"""
