"""Build app images: content-tagged, skipped when nothing changed, streamed, cancellable.

The tag is a hash of everything that decides the image (the context after
`.dockerignore`, the Dockerfile, target and build args), so an unchanged app
needs no build at all, and an image is never `:latest`. Builds shell out to the
docker CLI (BuildKit where the client can), because the Docker SDK only drives
the legacy builder. Cancelling `build()` terminates the build process.
"""

from __future__ import annotations

import asyncio
import io
import os
import re
import tarfile
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from devloop.adapters import dockerhttp, proc
from devloop.adapters.dockerapi import DockerEngine
from devloop.adapters.dockercli import DockerClient
from devloop.build.context import (
    GENERATED_BUILD_EXCLUDES,
    ContextEntry,
    ContextHasher,
    IgnoreRules,
    add_dockerfile,
    inputs_digest,
    read_dockerignore,
    walk,
)
from devloop.build.dockerfiles import SourceView, generate, runs_as_root
from devloop.core import stages
from devloop.core.buildlog import BuildLogParser, BuildOutput, StepState, classify_line, is_user_step
from devloop.core.spec import AppSpec, BuildSpec
from devloop.errors import BuildContextError, BuildError, DockerUnavailableError
from devloop.fs import private_dir, write_private

OutputSink = Callable[[BuildOutput], None]
TAG_LENGTH = 16
SECRET_ARG = re.compile(
    r"(SECRET|TOKEN|PASSWORD|PASSWD|PASSPHRASE|API_?KEY|PRIVATE|CREDENTIAL|ACCESS_?KEY)", re.I
)
_DAEMON_DOWN = ("Cannot connect to the Docker daemon", "error during connect", "connect: no such file")


@dataclass(frozen=True)
class BuildPlan:
    app: str
    image: str  # repository:tag
    digest: str
    dockerfile_text: str
    dockerfile_path: Path | None  # None: generated, sent with the context on stdin
    context: Path
    entries: tuple[ContextEntry, ...]
    target: str | None
    args: tuple[tuple[str, str], ...]
    warnings: tuple[str, ...]
    ignore_patterns: tuple[str, ...] = ()  # for a generated Dockerfile: what the context leaves out


@dataclass(frozen=True)
class BuildResult:
    app: str
    image: str
    skipped: bool
    duration_s: float
    steps: tuple[tuple[str, str, float | None], ...] = ()  # (name, state, seconds)


class Builder(Protocol):
    """What the engine needs of a builder (ImageBuilder here, tests/fakes/builder.py in tests)."""

    async def build(
        self, app: AppSpec, on_output: OutputSink | None = None, force: bool = False
    ) -> BuildResult:
        """The app's image, built unless one of the same inputs exists; BuildError on failure."""
        ...


def image_repository(app: str) -> str:
    return f"devloop/{app}"


def source_view(folder: Path) -> SourceView:
    def read(name: str) -> str | None:
        try:
            return (folder / name).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            return None

    try:
        files = frozenset(p.name for p in folder.iterdir() if p.is_file())
    except OSError:
        files = frozenset()
    return SourceView(files, read)


def build_of(app: AppSpec) -> BuildSpec:
    """How the app is built, or a BuildContextError when it runs a prebuilt image."""
    if app.build is None:
        raise BuildContextError(f"{app.name} uses the prebuilt image {app.image}; nothing is built")
    if app.build.missing is not None:  # loaded (validate, export work) but not buildable yet
        raise BuildContextError(f"{app.name}: {app.build.missing}")
    return app.build


def print_dockerfile(app: AppSpec) -> str:
    """The Dockerfile devloop builds the app with: the user's, or the generated one."""
    build = build_of(app)
    if build.dockerfile is not None:
        return build.dockerfile.read_text(encoding="utf-8")
    return generate(app, source_view(build.context))


class ImageBuilder:
    """Builds apps on one Docker engine; remembers each app's last good image."""

    def __init__(
        self,
        client: DockerClient | Callable[[], DockerClient] | None,
        engine: DockerEngine | None = None,
        generated_dir: Path | None = None,
    ) -> None:
        self._client = client
        self.generated_dir = generated_dir or default_generated_dir()
        self._engine = engine
        self._hasher = ContextHasher()
        self._rules: dict[tuple[str, str], IgnoreRules] = {}
        self.current: dict[str, str] = {}  # app -> image of its last successful build

    @property
    def client(self) -> DockerClient | None:
        """The docker client builds run with; one given as a callable is found on the first build
        that runs (an up-to-date check needs none, and probing costs two `docker` processes)."""
        if callable(self._client):
            self._client = self._client()
        return self._client

    def engine(self) -> DockerEngine:
        if self._engine is None:
            self._engine = dockerhttp.open_engine()
        return self._engine

    def _rules_for(self, context: Path, extra: Sequence[str], keep: Sequence[str]) -> IgnoreRules:
        patterns = [*read_dockerignore(context), *extra]
        key = (str(context), "\n".join([*patterns, "--", *keep]))
        rules = self._rules.get(key)
        if rules is None:
            rules = self._rules[key] = IgnoreRules(patterns, keep)
        return rules

    def plan(self, app: AppSpec) -> BuildPlan:
        """Work out what would be built and its tag. Reads files: call off the event loop."""
        build = build_of(app)
        context = build.context
        if not context.is_dir():
            raise BuildContextError(f"{app.name}: build context {context} does not exist")
        warnings = [
            f"build arg {key} looks like a secret: build args are visible in the image history"
            " (`docker history`); pass secrets as env instead"
            for key, _ in build.args
            if SECRET_ARG.search(key)
        ]
        if build.dockerfile is not None:
            try:
                text = build.dockerfile.read_text(encoding="utf-8")
            except FileNotFoundError:
                raise BuildContextError(f"{app.name}: Dockerfile {build.dockerfile} does not exist") from None
            keep = [".dockerignore"]
            try:
                rel = build.dockerfile.relative_to(context).as_posix()
                keep.append(rel)
            except ValueError:
                rel = None
            rules = self._rules_for(context, (), keep)
            if rel is not None and IgnoreRules(read_dockerignore(context)).excluded(rel):
                warnings.append(
                    f".dockerignore excludes {rel}: Docker still reads it to build,"
                    " but COPY will not put it in the image"
                )
            if runs_as_root(text):
                warnings.append(
                    f"{build.dockerfile.name} runs as root (no USER in its final stage, or USER root):"
                    " add a non-root USER, as devloop's generated Dockerfiles do"
                )
            if any(e.rel.split("/")[-1].startswith(".env") for e in walk(context, rules)):
                warnings.append(
                    ".env files are in the build context: add `.env*` to .dockerignore"
                    " so no secret can end up in an image layer"
                )
        else:
            text = generate(app, source_view(context))
            rules = self._rules_for(context, GENERATED_BUILD_EXCLUDES, ())
            ignore = tuple(rules.patterns)
        if build.dockerfile is not None:
            ignore = ()
        entries = tuple(walk(context, rules))
        digest = inputs_digest(self._hasher.digest(entries), text, build.target, build.args)
        return BuildPlan(
            app=app.name,
            image=f"{image_repository(app.name)}:{digest[:TAG_LENGTH]}",
            digest=digest,
            dockerfile_text=text,
            dockerfile_path=build.dockerfile,
            context=context,
            entries=entries,
            target=build.target,
            args=build.args,
            warnings=tuple(warnings),
            ignore_patterns=ignore,
        )

    async def build(
        self, app: AppSpec, on_output: OutputSink | None = None, force: bool = False
    ) -> BuildResult:
        """Build `app` unless an image of the same inputs exists; raise BuildError on failure."""
        sink = on_output or (lambda _out: None)
        started = time.monotonic()
        plan = await asyncio.to_thread(self.plan, app)
        stages.mark("plan")
        for warning in plan.warnings:
            sink(BuildOutput(app.name, warning, kind="warning"))
        if not force and await asyncio.to_thread(self.engine().image_present, plan.image):
            self.current[app.name] = plan.image
            sink(BuildOutput(app.name, f"up to date: {plan.image}", kind="result"))
            return BuildResult(app.name, plan.image, True, time.monotonic() - started)
        stages.mark("cache check")
        result = await self._run_build(plan, sink, started)
        self.current[app.name] = plan.image
        return result

    async def _run_build(self, plan: BuildPlan, sink: OutputSink, started: float) -> BuildResult:
        client = await asyncio.to_thread(lambda: self.client)
        if client is None:
            raise BuildError("no docker client to build with")
        argv = [*client.build_argv(), "-t", plan.image]
        if client.buildkit:
            # Labels are free in BuildKit's image config; the classic builder turns each build's
            # labels into a last step and a layer commit of its own (~35 ms a save), and the
            # content tag already names the inputs. Nothing reads them back.
            argv += ["--label", f"devloop.app={plan.app}", "--label", f"devloop.inputs={plan.digest}"]
        if plan.target:
            argv += ["--target", plan.target]
        for key, value in plan.args:
            argv += ["--build-arg", f"{key}={value}"]
        stdin_data = None
        if plan.dockerfile_path is not None:
            argv += ["-f", str(plan.dockerfile_path), str(plan.context)]
        elif client.buildkit:
            # BuildKit reads <Dockerfile>.dockerignore instead of the context's, and sends
            # only what changed since the last build: faster than a tar of everything.
            dockerfile = await asyncio.to_thread(write_generated, plan, self.generated_dir)
            argv += ["-f", str(dockerfile), str(plan.context)]
        else:
            stdin_data = await asyncio.to_thread(context_tar, plan.entries, plan.dockerfile_text)
            argv += ["-"]
        parser = BuildLogParser()
        current: list[str | None] = [None]

        def on_line(line: str) -> None:
            for step in parser.feed(line, time.monotonic()):
                if not is_user_step(step.name):
                    continue  # BuildKit's internal steps (load context, export) are noise here
                if step.state is StepState.RUNNING:
                    current[0] = step.name
                    sink(BuildOutput(plan.app, step.name, step=step.name, kind="step"))
                else:
                    took = f" in {step.duration_s:.1f}s" if step.duration_s is not None else ""
                    text = f"{step.name}: {step.state.value}{took}"
                    sink(BuildOutput(plan.app, text, step=step.name, kind="step"))
            kind, text = classify_line(line)
            sink(BuildOutput(plan.app, text, step=current[0], kind=kind))

        with tempfile.TemporaryDirectory(prefix="devloop-build-") as tmp:
            iidfile = os.path.join(tmp, "iid")
            base = len(client.build_argv())
            argv[base:base] = ["--iidfile", iidfile]
            result = await proc.run(argv, on_line=on_line, env=client.build_env(), stdin_data=stdin_data)
            parser.finish_legacy(time.monotonic())
            built = os.path.exists(iidfile) and os.path.getsize(iidfile) > 0
        if not result.ok or not built:
            output = "\n".join(result.output[-30:])
            if any(marker in output for marker in _DAEMON_DOWN):
                raise DockerUnavailableError(f"the Docker engine stopped answering while building {plan.app}")
            step = parser.failed_step
            reason = parser.error or f"docker build exited with code {result.returncode}"
            where = f" at step {step}" if step else ""
            raise BuildError(
                f"{plan.app}: build failed{where}: {reason}", step=step, last_lines=parser.failure_lines()
            )
        duration = time.monotonic() - started
        sink(BuildOutput(plan.app, f"built {plan.image} in {duration:.1f}s", kind="result"))
        steps = tuple(
            (s.name, s.state.value, s.duration_s) for s in parser.steps.values() if is_user_step(s.name)
        )
        return BuildResult(plan.app, plan.image, False, duration, steps)


def default_generated_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "devloop" / "generated"


def write_generated(plan: BuildPlan, root: Path) -> Path:
    """The generated Dockerfile and its own .dockerignore, in a folder only the user can read."""
    folder = root / plan.digest[:16]
    dockerfile = folder / "Dockerfile"
    try:
        private_dir(root)
        if not dockerfile.exists():
            ignore = "".join(f"{p}\n" for p in plan.ignore_patterns)
            write_private(folder / "Dockerfile.dockerignore", ignore)
            write_private(dockerfile, plan.dockerfile_text)
    except OSError as exc:  # a full disk, say: name the folder, since a failed write does not
        raise OSError(exc.errno, exc.strerror, str(folder)) from None
    return dockerfile


def context_tar(entries: Sequence[ContextEntry], dockerfile_text: str) -> bytes:
    """The build context as Docker receives it on stdin, with the generated Dockerfile at its root."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for entry in sorted(entries, key=lambda e: e.rel):
            try:
                tar.add(entry.path, arcname=entry.rel, recursive=False)
            except FileNotFoundError:
                continue  # removed since the plan; the next change rebuilds
        add_dockerfile(tar, dockerfile_text)
    return buffer.getvalue()
