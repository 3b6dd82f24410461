"""How a cf app is built locally: its `path:` (a folder or an archive) and its buildpacks.

cf stages an app with the buildpacks it names, or detects one from the files; a
`path:` may name a folder or a `.jar`/`.war`/`.zip`. devloop builds an image
instead: the folder's Dockerfile, else a generated one for the language the
buildpacks (or, without them, the files) say. What devloop cannot build yet
(a folder not checked out or built, a Java or Ruby app) still loads: the reason
is kept in `BuildSpec.missing` for `build`/`up`, and a notice says it now.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from devloop.config import files
from devloop.config.detect import detect_language
from devloop.core.spec import BuildSpec, Language

ARCHIVES = (".jar", ".war", ".zip")

# buildpack name token -> the language devloop generates for, or the runtime it does not (yet)
_TOKENS: dict[str, Language | str] = {
    "python": Language.PYTHON,
    "nodejs": Language.NODE,
    "node": Language.NODE,
    "go": Language.GO,
    "golang": Language.GO,
    "staticfile": Language.STATIC,
    "nginx": Language.STATIC,
    "java": "java",
    "liberty": "java",
    "tomcat": "java",
    "binary": "binary",
    "ruby": "ruby",
    "php": "php",
    "dotnet": "dotnet-core",
    "hwc": "dotnet-core",
}

# A Dockerfile to start from for the runtimes devloop does not generate one for.
_DOCKERFILE_HINT = {
    "java": "FROM eclipse-temurin:21-jre, COPY the jar to /app/app.jar, USER 1000, "
    "CMD java -jar /app/app.jar",
    "binary": "FROM debian:stable-slim, COPY the app in, USER 1000, CMD the app's `command:`",
    "ruby": "FROM ruby:3.3, COPY Gemfile* and run bundle install, COPY the app, USER 1000, "
    "CMD the start command",
    "php": "FROM php:8.3-apache, COPY the app to /var/www/html, listen on $PORT",
    "dotnet-core": "FROM mcr.microsoft.com/dotnet/aspnet:8.0, COPY the published app, USER 1000, "
    "CMD dotnet APP.dll",
}


def buildpack_runtime(buildpack: str) -> Language | str | None:
    """What a buildpack (a name, a git URL or a `docker://` image) stages: a language or runtime."""
    segment = buildpack.split("#", 1)[0].rstrip("/").rsplit("/", 1)[-1].removesuffix(".git").lower()
    for token in re.split(r"[-_.:]+", segment):
        if token in _TOKENS:
            return _TOKENS[token]
    return None


@dataclass(frozen=True)
class CfBuild:
    source: Path  # the app folder (an archive's folder for a file `path:`)
    build: BuildSpec
    notice: str | None = None  # what to tell the user now, when the build is not complete


def cf_build(base: Path, path: str | None, buildpacks: tuple[str, ...]) -> CfBuild:
    """The app folder and build of a cf app whose `path:` is `path` (default: the manifest's folder)."""
    written = path or "."
    target = files.resolve(base / written)
    runtimes = [r for r in (buildpack_runtime(b) for b in buildpacks) if r is not None]
    runtime = runtimes[-1] if runtimes else None  # the last buildpack is the one that starts the app
    if target.suffix.lower() in ARCHIVES and not files.is_dir(target):
        if files.is_file(base / "Dockerfile"):  # the project's own build, which COPYs the archive
            root = files.resolve(base)
            return CfBuild(root, BuildSpec(root, root / "Dockerfile", artifact=target))
        return _archive(target, written, runtime, files.resolve(base))
    if not files.exists(target):
        reason = f"app folder {written!r} does not exist yet (looked for {target})"
        return CfBuild(target, BuildSpec(target, missing=reason), _later(reason))
    if not files.is_dir(target):
        reason = f"path {written!r} is a file devloop cannot build from (it builds from a folder)"
        return CfBuild(target.parent, BuildSpec(target.parent, missing=reason), _later(reason))
    if files.is_file(target / "Dockerfile"):
        return CfBuild(target, BuildSpec(target, target / "Dockerfile"))
    if isinstance(runtime, Language):
        return CfBuild(target, BuildSpec(target, None, runtime))
    if runtime is not None:
        return _unsupported(target, runtime, f"buildpack {buildpacks[-1]}")
    detected = detect_language(target)
    if detected is not None:
        return CfBuild(target, BuildSpec(target, None, detected))
    reason = (
        f"app folder {target} has no Dockerfile and no recognised language "
        "(requirements.txt, pyproject.toml, package.json, go.mod or index.html)"
    )
    return CfBuild(target, BuildSpec(target, missing=reason + "; add a Dockerfile"), _later(reason))


def _archive(target: Path, written: str, runtime: Language | str | None, base: Path) -> CfBuild:
    folder = target.parent
    if target.suffix.lower() == ".jar":  # a built jar runs on a JRE, as the Java buildpack runs it
        if files.is_file(target):
            return CfBuild(folder, BuildSpec(folder, None, Language.JAVA, artifact=target))
        reason = (
            f"a java app (path {written}): the jar is not built yet; build it (`mvn package`, "
            "`gradle build`) and devloop runs it on a JRE"
        )
        build = BuildSpec(folder, None, Language.JAVA, artifact=target, missing=reason)
        return CfBuild(folder, build, _later(reason))
    if target.suffix.lower() in (".jar", ".war") or runtime == "java":
        return _unsupported(folder, "java", f"path {written}", artifact=target, dockerfile_in=base)
    reason = f"path {written!r} is a zip archive; devloop builds from a folder"
    build = BuildSpec(folder, artifact=target, missing=reason + ": unzip it and point `path:` at the folder")
    return CfBuild(folder, build, _later(reason))


def _unsupported(
    folder: Path, runtime: str, why: str, artifact: Path | None = None, dockerfile_in: Path | None = None
) -> CfBuild:
    reason = (
        f"a {runtime} app ({why}): devloop generates no {runtime} image yet; "
        f"add a Dockerfile to {dockerfile_in or folder} ({_DOCKERFILE_HINT[runtime]})"
    )
    return CfBuild(folder, BuildSpec(folder, artifact=artifact, missing=reason), _later(reason))


def _later(reason: str) -> str:
    return f"{reason}; `validate` and `export` work, `build` and `up` stop here until it is fixed"
