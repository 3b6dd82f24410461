"""Generated Dockerfiles, checked as text: pure, no Docker."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from devloop.build.dockerfiles import SourceView, generate, runs_as_root
from devloop.core.spec import AppSpec, BuildSpec, Language
from devloop.errors import BuildContextError


def app(language: Language, command: str | None = None, port: int = 8080) -> AppSpec:
    return AppSpec(
        name="web",
        source=Path("/src"),
        build=BuildSpec(Path("/src"), language=language),
        command=command,
        port=port,
    )


def view(files: dict[str, str]) -> SourceView:
    return SourceView(frozenset(files), files.get)


@pytest.mark.parametrize(
    ("language", "files"),
    [
        (Language.PYTHON, {"requirements.txt": "flask\n", "app.py": ""}),
        (Language.NODE, {"package.json": '{"scripts": {"start": "node s.js"}}'}),
        (Language.GO, {"go.mod": "module x\n", "go.sum": ""}),
        (Language.STATIC, {"index.html": ""}),
    ],
)
def test_every_generated_image_runs_as_non_root_and_exposes_the_port(
    language: Language, files: dict[str, str]
) -> None:
    text = generate(app(language, port=5000), view(files))
    user_lines = [line for line in text.splitlines() if line.startswith("USER ")]
    assert user_lines and all(not line.split()[1].startswith(("0", "root")) for line in user_lines)
    assert "EXPOSE 5000" in text
    assert ":latest" not in text
    assert "ARG " not in text and "secret" not in text.lower()


@pytest.mark.parametrize(
    ("language", "files", "deps_line", "source_line"),
    [
        (
            Language.PYTHON,
            {"requirements.txt": "", "app.py": ""},
            "pip install --no-cache-dir -r requirements.txt",
            "COPY --chown=10001:10001 . .",
        ),
        (
            Language.NODE,
            {"package.json": "{}", "package-lock.json": "{}", "index.js": ""},
            "npm ci --omit=dev",
            "COPY --chown=10001:10001 . .",
        ),
        (
            Language.NODE,
            {"package.json": "{}", "index.js": ""},
            "npm install --omit=dev",
            "COPY --chown=10001:10001 . .",
        ),
        (Language.GO, {"go.mod": ""}, "go mod download", "COPY . ."),
    ],
)
def test_dependencies_install_before_the_source_is_copied(
    language: Language, files: dict[str, str], deps_line: str, source_line: str
) -> None:
    text = generate(app(language), view(files))
    assert text.index(deps_line) < text.index(source_line)


@pytest.mark.parametrize(
    ("language", "files", "command", "expected"),
    [
        (Language.PYTHON, {"requirements.txt": "", "main.py": ""}, None, 'CMD ["python", "main.py"]'),
        (
            Language.PYTHON,
            {"requirements.txt": "", "Procfile": "web: gunicorn app:app\n"},
            None,
            'CMD ["/bin/sh", "-c", "gunicorn app:app"]',
        ),
        (
            Language.PYTHON,
            {"requirements.txt": "", "app.py": ""},
            "python app.py --fast",
            'CMD ["/bin/sh", "-c", "python app.py --fast"]',
        ),
        (
            Language.NODE,
            {"package.json": '{"scripts": {"start": "node s.js"}}'},
            None,
            'CMD ["npm", "start"]',
        ),
        (Language.NODE, {"package.json": '{"main": "srv.js"}'}, None, 'CMD ["node", "srv.js"]'),
        (Language.NODE, {"package.json": "{}", "server.js": ""}, None, 'CMD ["node", "server.js"]'),
        (Language.GO, {"go.mod": ""}, None, 'ENTRYPOINT ["/app"]'),
        (
            Language.STATIC,
            {"index.html": ""},
            None,
            'CMD ["busybox", "httpd", "-f", "-v", "-p", "8080", "-h", "/www"]',
        ),
    ],
)
def test_start_command(language: Language, files: dict[str, str], command: str | None, expected: str) -> None:
    assert expected in generate(app(language, command), view(files))


def test_go_is_multi_stage_with_a_small_runtime() -> None:
    text = generate(app(Language.GO), view({"go.mod": ""}))
    assert text.count("FROM ") == 2 and "COPY --from=build /out/app /app" in text
    assert "FROM gcr.io/distroless/static-debian12:nonroot" in text


@pytest.mark.parametrize(
    ("language", "files", "message"),
    [
        (Language.PYTHON, {"requirements.txt": ""}, "cannot tell how to start this Python app"),
        (Language.NODE, {"package.json": "{}"}, "no `start` script"),
        (Language.NODE, {"package.json": "{oops"}, "package.json is not valid JSON (line 1, column 2)"),
    ],
)
def test_apps_that_cannot_be_started(language: Language, files: dict[str, str], message: str) -> None:
    with pytest.raises(BuildContextError) as info:
        generate(app(language), view(files))
    assert message in str(info.value)


@pytest.mark.parametrize(
    ("dockerfile", "root"),
    [
        ('FROM python:3.12-slim\nCMD ["python"]\n', True),
        ("FROM python:3.12-slim\nUSER root\n", True),
        ("FROM python:3.12-slim\nUSER 0:0\n", True),
        ("FROM python:3.12-slim\nUSER 10001:10001\n", False),
        ("FROM python:3.12-slim\nUSER app\n", False),
        ("FROM golang AS build\nUSER 1000\nFROM debian\n", True),  # the final stage never set one
        (
            "FROM debian\n# USER 1000\nRUN true \\\n  && echo USER 1000\n",
            True,
        ),  # comments and RUN text do not count
        ("from debian\nuser nobody\n", False),
    ],
)
def test_root_detection(dockerfile: str, root: bool) -> None:
    assert runs_as_root(dockerfile) is root


@pytest.mark.parametrize(
    ("language", "files"),
    [
        (Language.PYTHON, {"requirements.txt": "", "app.py": ""}),
        (Language.NODE, {"package.json": "{}", "index.js": ""}),
        (Language.GO, {"go.mod": ""}),
        (Language.STATIC, {"index.html": ""}),
    ],
)
def test_generated_dockerfiles_never_run_as_root(language: Language, files: dict[str, str]) -> None:
    assert not runs_as_root(generate(app(language), view(files)))


@pytest.mark.parametrize(
    ("runtime_txt", "image"),
    [
        ("python-3.11.x\n", "python:3.11-slim"),  # the cf python buildpack's form
        ("python-3.10.4", "python:3.10-slim"),
        ("Python-3.9", "python:3.9-slim"),
        ("  python-3.11.x  \n# a comment\n", "python:3.11-slim"),
        ("3.11", "python:3.12-slim"),  # not the buildpack's form: the default
        ("python-latest", "python:3.12-slim"),
        (None, "python:3.12-slim"),
    ],
)
def test_python_base_image_follows_runtime_txt(runtime_txt: str | None, image: str) -> None:
    files = {"requirements.txt": "", "app.py": ""}
    if runtime_txt is not None:
        files["runtime.txt"] = runtime_txt
    text = generate(app(Language.PYTHON), view(files))
    assert [line for line in text.splitlines() if line.startswith("FROM")] == [f"FROM {image} AS deps",
                                                                             f"FROM {image}"]  # fmt: skip


@pytest.mark.parametrize(
    ("engines", "image"),
    [
        ({"node": "18.x"}, "node:18-slim"),
        ({"node": "^20.11.0"}, "node:20-slim"),
        ({"node": "~16"}, "node:16-slim"),
        ({"node": "22"}, "node:22-slim"),
        ({"node": ">=18"}, "node:22-slim"),  # a range, not one major: the default
        ({"node": "18 || 20"}, "node:22-slim"),
        ({"npm": "10.x"}, "node:22-slim"),
        ("18", "node:22-slim"),  # not an object: ignored
    ],
)
def test_node_base_image_follows_engines(engines: object, image: str) -> None:
    package = json.dumps({"engines": engines, "scripts": {"start": "node s.js"}})
    text = generate(app(Language.NODE), view({"package.json": package}))
    assert [line for line in text.splitlines() if line.startswith("FROM")] == [f"FROM {image} AS deps",
                                                                             f"FROM {image}"]  # fmt: skip


def test_a_debugged_go_build_keeps_its_symbols_unoptimised() -> None:
    from dataclasses import replace

    plain = generate(app(Language.GO), view({"go.mod": ""}))
    debugged = generate(replace(app(Language.GO), debug="on"), view({"go.mod": ""}))
    assert '-ldflags="-s -w"' in plain and "-gcflags" not in plain
    assert 'go build -gcflags="all=-N -l" -o /out/app .' in debugged and "-s -w" not in debugged
