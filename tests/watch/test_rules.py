"""Ignore rules on real folders, without a watch: what counts as a change of an app."""

from __future__ import annotations

from pathlib import Path

from devloop.core.spec import AppSpec, BuildSpec, Language
from devloop.watch.rules import WatchRules, files_under


def python_app(folder: Path, name: str = "web") -> AppSpec:
    (folder / "requirements.txt").write_text("")
    return AppSpec(name, folder, BuildSpec(folder, dockerfile=None, language=Language.PYTHON))


def dockerfile_app(folder: Path, name: str = "web") -> AppSpec:
    (folder / "Dockerfile").write_text("FROM python:3.12-slim\n")
    return AppSpec(name, folder, BuildSpec(folder, dockerfile=folder / "Dockerfile"))


def test_rules_keep_the_dockerfile_even_when_dockerignored(tmp_path: Path) -> None:
    app = dockerfile_app(tmp_path)
    (tmp_path / ".dockerignore").write_text("Dockerfile\n*.md\n")
    rules = WatchRules.for_app(app)
    assert not rules.ignored_file("Dockerfile") and not rules.ignored_file(".dockerignore")
    assert rules.ignored_file("README.md") and not rules.ignored_file("docs/README.md")


def test_generated_builds_ignore_secrets_and_vcs(tmp_path: Path) -> None:
    rules = WatchRules.for_app(python_app(tmp_path))
    assert rules.ignored_file(".env") and rules.ignored_file("config/.env.local")
    assert rules.ignored_dir(".git") and rules.ignored_dir("node_modules")
    assert not rules.ignored_file("app.py")


def test_docker_and_git_dialects_differ_without_a_watch(tmp_path: Path) -> None:
    app = dockerfile_app(tmp_path)
    (tmp_path / ".dockerignore").write_text("*.tmplog\n")  # Docker: root only
    (tmp_path / ".gitignore").write_text("*.gitlog\n")  # git: any depth
    rules = WatchRules.for_app(app)
    assert rules.ignored_file("a.tmplog") and not rules.ignored_file("deep/b.tmplog")
    assert rules.ignored_file("c.gitlog") and rules.ignored_file("deep/d.gitlog")


def test_a_nested_gitignore_applies_to_its_own_folder_only(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / ".gitignore").write_text("generated/\n")
    rules = WatchRules.for_app(python_app(tmp_path))
    assert rules.ignored_dir("sub/generated") and not rules.ignored_dir("generated")


def test_files_under_lists_what_the_rules_keep(tmp_path: Path) -> None:
    app = python_app(tmp_path)
    (tmp_path / "node_modules" / "p").mkdir(parents=True)
    (tmp_path / "node_modules" / "p" / "index.js").write_text("x")
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "app.py").write_text("x")
    (tmp_path / ".env").write_text("SECRET=1")
    assert sorted(files_under(WatchRules.for_app(app))) == ["requirements.txt", "src/app.py"]
