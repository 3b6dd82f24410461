"""cf manifests as real projects write them: each case a lesson from a corpus of public manifests.

The manifests here are written for these tests (the corpus itself stays out of the
repository); each case names the exact model value or message it expects.
"""

from __future__ import annotations

import re
import textwrap
from pathlib import Path
from typing import Any

import pytest

from devloop.build.dockerfiles import SourceView, generate
from devloop.config.loader import load_project, load_vars
from devloop.core.routes import Route, routes_for
from devloop.core.spec import Language, ProjectSpec, dns_name, dns_names, parse_memory_mb
from devloop.errors import ConfigError


def load(folder: Path, text: str, variables: dict[str, Any] | None = None, **kw: Any) -> ProjectSpec:
    path = folder / "manifest.yml"
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    return load_project(path, variables if variables is not None else {}, **kw)


def messages(project: ProjectSpec) -> list[str]:
    return [n.message for n in project.notices]


def error(folder: Path, text: str, variables: dict[str, Any] | None = None) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load(folder, text, variables)
    return info.value


@pytest.fixture
def cf_dir(tmp_path: Path) -> Path:
    """A folder with a Python app in it, so builds resolve and only the cf lesson is under test."""
    (tmp_path / "requirements.txt").write_text("flask\n")
    return tmp_path


# --- ((vars)) ---------------------------------------------------------------------------------

VAR_PAIRS = [
    ("instances=2", 2),
    ("flag=true", True),
    ("ratio=1.5", 1.5),
    ("greeting=hello world", "hello world"),
    ("empty=", ""),
    ("quoted='007'", "007"),
    ("list=[a, b]", ["a", "b"]),
]


@pytest.mark.parametrize(("pair", "value"), VAR_PAIRS, ids=[p for p, _ in VAR_PAIRS])
def test_var_values_are_yaml_as_in_cf(pair: str, value: Any) -> None:
    name = pair.split("=", 1)[0]
    assert load_vars(pairs=[pair]) == {name: value}


def test_typed_var_fills_an_integer_attribute(cf_dir: Path) -> None:
    text = "applications:\n- name: web\n  instances: ((n))\n  memory: ((mem))M\n  env: {DEBUG: ((debug))}\n"
    (app,) = load(cf_dir, text, load_vars(pairs=["n=3", "mem=256", "debug=true"])).apps
    assert (app.instances, app.memory_mb, app.env) == (3, 256, (("DEBUG", "true"),))


def test_vars_file_keeps_types_and_nested_names_resolve(cf_dir: Path) -> None:
    (cf_dir / "vars.yml").write_text("route:\n  tcp: {domain: tcp.example.com, port: 1234}\ninstances: 2\n")
    text = """
    applications:
    - name: collector
      instances: ((instances))
      routes:
      - route: ((route.tcp.domain)):((route.tcp.port))
      env: {PORT_SEEN: ((route.tcp.port))}
    """
    (app,) = load(cf_dir, text, load_vars([cf_dir / "vars.yml"])).apps
    assert app.instances == 2
    assert app.routes == ("tcp.example.com:1234",)
    assert app.env == (("PORT_SEEN", "1234"),)


def test_every_missing_variable_in_one_message(cf_dir: Path) -> None:
    err = error(cf_dir, "applications:\n- name: ((name))\n  env:\n    A: ((a.b))\n    B: x-((name))\n")
    assert err.message == "2 variables have no value: ((name)) (line 2), ((a.b)) (line 4)"
    assert (err.location.line, err.location.column) == (2, 9)


def test_one_missing_variable(cf_dir: Path) -> None:
    assert error(cf_dir, "applications:\n- name: ((app))\n").message == "variable ((app)) has no value"


def test_lenient_load_keeps_names_and_drops_what_it_cannot_know(cf_dir: Path) -> None:
    text = "applications:\n- name: api\n  instances: ((n))\n  memory: ((m))M\n  routes:\n  - route: ((r))\n"
    project = load(cf_dir, text, lenient=True)
    (app,) = project.apps
    assert (app.name, app.instances, app.memory_mb, app.routes) == ("api", 1, None, ())


# --- YAML merge keys and anchors ---------------------------------------------------------------


def test_merge_key_then_overrides(cf_dir: Path) -> None:
    text = """
    defaults: &defaults
      memory: 256M
      instances: 2
      env: {MODE: base}
    applications:
    - <<: *defaults
      name: web
      instances: 3
    - name: worker
      <<: *defaults
      no-route: true
    """
    project = load(cf_dir, text)
    web, worker = project.apps
    assert (web.memory_mb, web.instances, web.env) == (256, 3, (("MODE", "base"),))
    assert (worker.memory_mb, worker.instances, worker.no_route) == (256, 2, True)
    assert not any("defaults" in m for m in messages(project))  # an anchor-only key is no notice


def test_a_key_written_twice_is_still_an_error(cf_dir: Path) -> None:
    err = error(cf_dir, "applications:\n- name: web\n  memory: 1G\n  memory: 2G\n")
    assert (err.message, err.location.line) == ("duplicate key 'memory'", 4)


def test_top_level_key_that_is_not_cf_is_one_notice(cf_dir: Path) -> None:
    project = load(cf_dir, "declared-services: {db: {label: x}}\napplications:\n- name: web\n")
    assert messages(project) == [
        "top-level key `declared-services` is not a cf manifest attribute; ignored, as cf does"
    ]


# --- cf v6: globals, inherit, host/domain ------------------------------------------------------


def test_top_level_attributes_apply_to_every_app(cf_dir: Path) -> None:
    text = """
    memory: 128M
    env: {SHARED: "1", OVER: global}
    applications:
    - name: a
      env: {OVER: app}
    - name: b
      memory: 1G
    """
    project = load(cf_dir, text)
    a, b = project.apps
    assert (a.memory_mb, a.env) == (128, (("SHARED", "1"), ("OVER", "app")))
    assert (b.memory_mb, b.env) == (1024, (("SHARED", "1"), ("OVER", "global")))
    assert messages(project) == [
        "top-level `memory` applies to every app (a cf v6 global attribute; cf v7 wants it in each app)",
        "top-level `env` applies to every app (a cf v6 global attribute; cf v7 wants it in each app)",
    ]


def test_inherit_merges_the_parent(cf_dir: Path) -> None:
    (cf_dir / "base.yml").write_text("memory: 512M\ninstances: 2\nenv: {A: base, B: base}\n")
    text = "inherit: base.yml\nenv: {B: child}\napplications:\n- name: web\n  instances: 4\n"
    project = load(cf_dir, text)
    (app,) = project.apps
    assert (app.memory_mb, app.instances, app.env) == (512, 4, (("A", "base"), ("B", "child")))
    assert messages(project)[0] == (
        "`inherit: base.yml` is cf v6 only (cf v7 removed it); devloop merges the parent in as cf v6 did"
    )
    assert str(project.notices[1]).startswith(f"{cf_dir / 'base.yml'}:1:1: top-level `memory`")


def test_inherit_of_a_parent_that_holds_the_apps(cf_dir: Path) -> None:
    (cf_dir / "base.yml").write_text("applications:\n- name: av\n  memory: 1G\n")
    (app,) = load(cf_dir, "inherit: base.yml\nroutes:\n- route: av.example.com\n").apps
    assert (app.name, app.memory_mb, app.routes) == ("av", 1024, ("av.example.com",))


def test_inherit_of_a_missing_parent(cf_dir: Path) -> None:
    err = error(cf_dir, "inherit: nope.yml\napplications:\n- name: web\n")
    assert err.message == "inherit: cannot read nope.yml (No such file or directory)"


V6_ROUTES = [
    ("host-only", "host: shop", ("shop.localhost",)),
    ("host-and-domain", "host: shop\n  domain: example.com", ("shop.example.com",)),
    (
        "hosts-times-domains",
        "hosts: [a, b]\n  domains: [x.io, y.io]",
        ("a.x.io", "b.x.io", "a.y.io", "b.y.io"),
    ),
    ("domain-only-uses-app-name", "domain: example.com", ("web.example.com",)),
    ("no-hostname", "domain: example.com\n  no-hostname: true", ("example.com",)),
    ("random-word", "host: web-${random-word}\n  domain: example.com", ("web.example.com",)),
    ("invalid-host-made-dns", "host: <i-number>-web\n  domain: example.com", ("i-number-web.example.com",)),
]


@pytest.mark.parametrize(("name", "attrs", "routes"), V6_ROUTES, ids=[v[0] for v in V6_ROUTES])
def test_v6_route_attributes_become_routes(
    cf_dir: Path, name: str, attrs: str, routes: tuple[str, ...]
) -> None:
    project = load(cf_dir, f"applications:\n- name: web\n  {attrs}\n")
    assert project.apps[0].routes == routes
    v6 = [m for m in messages(project) if "cf v6 attribute" in m]
    assert v6 and all("did you mean" not in m for m in v6)
    assert v6[0].endswith(
        f"devloop maps it, as cf v6 did, to routes: {', '.join(routes)}"
    ) or name.startswith("invalid")


def test_v6_notice_once_per_attribute_across_apps(cf_dir: Path) -> None:
    project = load(cf_dir, "applications:\n- name: a\n  host: a1\n- name: b\n  host: b1\n")
    assert messages(project) == [
        "`host` is a cf v6 attribute (cf v7 replaced it with `routes:`); "
        "devloop maps it, as cf v6 did, to routes: a1.localhost (and 1 more place)"
    ]


def test_routes_and_host_together_are_refused_as_cf_does(cf_dir: Path) -> None:
    err = error(cf_dir, "applications:\n- name: web\n  routes:\n  - route: a.io\n  host: b\n")
    assert err.message == (
        "app 'web' has both `routes` and `host`: cf refuses that too; "
        "keep `routes` (cf v7) or the v6 host/domain attributes, not both"
    )
    assert err.location.line == 5


def test_random_route_alone_keeps_the_stable_local_route(cf_dir: Path) -> None:
    project = load(cf_dir, "applications:\n- name: web\n  random-route: true\n")
    assert routes_for(project.apps[0]) == (Route("web.localhost"),)
    assert messages(project) == ["random-route: devloop gives the app a stable local route instead"]


def test_keys_cf_ignores_are_noticed_with_a_suggestion(cf_dir: Path) -> None:
    text = "applications:\n- name: web\n  health_check_type: http\n  processes:\n  - type: web\n    instance: 2\n"
    project = load(cf_dir, text)
    assert messages(project) == [
        "`health_check_type` is not a cf attribute of an app; ignored, as cf ignores it; "
        "did you mean `health-check-type`?",
        "`instance` is not a cf attribute of a processes entry; ignored, as cf ignores it; did you mean `instances`?",
    ]
    assert project.apps[0].health.type.value == "port"  # ignored, as cf ignores it


# --- app names ---------------------------------------------------------------------------------

NAMES = [
    ("GetStartedGo", "getstartedgo"),
    ("asp_web_app", "asp-web-app"),
    ("my app", "my-app"),
    ("Café", "cafe"),
    ("1st-app", "app-1st-app"),
    ("东 程", "app-98c703"),
    ("web", "web"),
]


@pytest.mark.parametrize(("written", "safe"), NAMES, ids=[n for _, n in NAMES])
def test_app_names_cf_accepts_get_a_dns_safe_name(cf_dir: Path, written: str, safe: str) -> None:
    assert dns_name(written) == safe
    project = load(cf_dir, f"applications:\n- name: '{written}'\n")
    (app,) = project.apps
    assert (app.name, app.label) == (safe, written)
    assert app.display_name == ("" if safe == written else written)
    assert routes_for(app) == (Route(f"{safe}.localhost"),)
    assert project.app(written) is app  # commands find it by the name the user wrote


def test_dns_names_are_collision_free_and_order_free() -> None:
    assert dns_names(["asp_web_app", "asp-web-app"]) == ["asp-web-app-ac4306", "asp-web-app"]
    assert dns_names(["asp-web-app", "asp_web_app"]) == ["asp-web-app", "asp-web-app-ac4306"]
    long = "A" * 80
    assert len(dns_name(long)) <= 50 and re.fullmatch(r"[a-z][-a-z0-9]*[a-z0-9]", dns_name(long))


def test_duplicate_cf_names_are_refused(cf_dir: Path) -> None:
    err = error(cf_dir, "applications:\n- name: Web\n- name: Web\n")
    assert (err.message, err.location.line) == ("duplicate app name 'Web'", 3)


# --- sizes -------------------------------------------------------------------------------------

SIZES = [
    ("1.2G", 1228),
    ("512M", 512),
    ("1024MB", 1024),
    ("2g", 2048),
    ("256", 256),
    (" 8m ", 8),
    ("1T", 1048576),
]


@pytest.mark.parametrize(("text", "mb"), SIZES, ids=[s for s, _ in SIZES])
def test_sizes_as_cf_parses_them(text: str, mb: int) -> None:
    assert parse_memory_mb(text) == mb


@pytest.mark.parametrize("text", ["1X", "M", "0.5M", "-1G", "1,5G"])
def test_sizes_cf_refuses(text: str) -> None:
    with pytest.raises(ValueError):
        parse_memory_mb(text)


# --- builds: path, buildpacks ------------------------------------------------------------------

BUILDPACKS = [
    ("python_buildpack", Language.PYTHON),
    ("https://github.com/cloudfoundry/nodejs-buildpack.git#v1.8", Language.NODE),
    ("https://github.com/cloudfoundry/go-buildpack", Language.GO),
    ("staticfile_buildpack", Language.STATIC),
    ("https://github.com/cloudfoundry/buildpack-python.git", Language.PYTHON),
]


@pytest.mark.parametrize(("buildpack", "language"), BUILDPACKS, ids=[b for b, _ in BUILDPACKS])
def test_buildpack_decides_the_language_of_a_folder_without_markers(
    tmp_path: Path, buildpack: str, language: Language
) -> None:
    (app,) = load(tmp_path, f"applications:\n- name: web\n  buildpack: {buildpack}\n").apps
    assert app.build is not None and app.build.language is language and app.build.missing is None


RUNTIMES = [("ruby_buildpack", "ruby:3.3"), ("binary_buildpack", "debian:stable-slim"),
            ("dotnet_core_buildpack", "dotnet/aspnet:8.0"), ("java_buildpack", "eclipse-temurin:21-jre")]  # fmt: skip


@pytest.mark.parametrize(("buildpack", "base"), RUNTIMES, ids=[r for r, _ in RUNTIMES])
def test_buildpacks_devloop_cannot_generate_for_name_the_dockerfile_to_add(
    tmp_path: Path, buildpack: str, base: str
) -> None:
    project = load(tmp_path, f"applications:\n- name: web\n  buildpacks: [{buildpack}]\n")
    build = project.apps[0].build
    assert build is not None and build.missing is not None
    assert f"add a Dockerfile to {tmp_path.resolve()}" in build.missing and base in build.missing
    assert messages(project)[-1].endswith(
        "`validate` and `export` work, `build` and `up` stop here until it is fixed"
    )


def test_jar_path_loads_with_a_notice(tmp_path: Path) -> None:
    project = load(tmp_path, "applications:\n- name: api\n  path: target/api.jar\n")
    (app,) = project.apps
    assert app.build is not None and app.build.artifact == (tmp_path / "target" / "api.jar").resolve()
    assert app.source == (tmp_path / "target").resolve()
    assert app.build.language is Language.JAVA
    assert app.build.missing == (
        "a java app (path target/api.jar): the jar is not built yet; build it (`mvn package`, "
        "`gradle build`) and devloop runs it on a JRE"
    )
    assert str(project.notices[-1]).startswith(f"{tmp_path / 'manifest.yml'}:3:9: a java app")


@pytest.mark.parametrize(("jbp_config", "base"), [(None, "eclipse-temurin:17-jre"),
                         ("{ jre: { version: 21.+ } }", "eclipse-temurin:21-jre")])  # fmt: skip
def test_a_built_jar_runs_on_a_generated_jre_image(tmp_path: Path, jbp_config: str | None, base: str) -> None:
    (tmp_path / "target").mkdir()
    (tmp_path / "target" / "api.jar").write_bytes(b"PK\x03\x04")
    env = f"  env: {{JBP_CONFIG_OPEN_JDK_JRE: '{jbp_config}'}}\n" if jbp_config else ""
    (app,) = load(tmp_path, f"applications:\n- name: api\n  path: target/api.jar\n{env}").apps
    assert app.build is not None and app.build.missing is None and app.build.language is Language.JAVA
    dockerfile = generate(app, SourceView(frozenset({"api.jar"}), lambda _name: None))
    assert f"\nFROM {base}\n" in dockerfile
    assert '\nCOPY --chown=10001:10001 "api.jar" /app/app.jar\n' in dockerfile
    assert "$JAVA_OPTS -jar /app/app.jar" in dockerfile and "\nUSER 10001:10001\n" in dockerfile


def test_jar_with_the_projects_dockerfile_builds_with_it(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM eclipse-temurin:21-jre\nCOPY target/api.jar /app/app.jar\n")
    (app,) = load(tmp_path, "applications:\n- name: api\n  path: target/api.jar\n").apps
    assert app.build is not None and app.build.missing is None
    assert (app.build.dockerfile, app.build.artifact, app.source) == (
        tmp_path.resolve() / "Dockerfile",
        (tmp_path / "target" / "api.jar").resolve(),
        tmp_path.resolve(),
    )


def test_zip_path_says_to_unzip(tmp_path: Path) -> None:
    (app,) = load(tmp_path, "applications:\n- name: site\n  path: dist/site.zip\n").apps
    assert app.build is not None and app.build.missing == (
        "path 'dist/site.zip' is a zip archive; devloop builds from a folder: unzip it and point `path:` at the folder"
    )


def test_missing_app_folder_is_a_notice_not_a_refusal(tmp_path: Path) -> None:
    project = load(tmp_path, "applications:\n- name: web\n  path: frontend\n")
    assert project.apps[0].build is not None
    assert messages(project) == [
        f"app folder 'frontend' does not exist yet (looked for {(tmp_path / 'frontend').resolve()}); "
        "`validate` and `export` work, `build` and `up` stop here until it is fixed"
    ]


def test_a_process_without_command_is_a_notice_for_cf(cf_dir: Path) -> None:
    project = load(cf_dir, "applications:\n- name: web\n  processes:\n  - type: worker\n")
    assert project.apps[0].processes[0].command is None
    assert messages(project) == [
        f"process type 'worker' has no command here and no `worker:` line in {cf_dir.resolve() / 'Procfile'}; "
        "`devloop up` needs one of them"
    ]


# --- routes, health, what is not honoured ------------------------------------------------------


def test_route_kinds_are_kept(cf_dir: Path) -> None:
    text = """
    applications:
    - name: shop
      routes:
      - route: shop.example.com/api
      - route: tcp.example.com:1234
      - route: My_Shop.Example.com
    - name: backend
      routes:
      - route: backend.apps.internal
    """
    project = load(cf_dir, text)
    shop, backend = project.apps
    assert shop.routes == ("shop.example.com/api", "tcp.example.com:1234", "my-shop.example.com")
    assert (backend.routes, backend.internal_routes, backend.no_route) == (
        (),
        ("backend.apps.internal",),
        True,
    )
    assert messages(project) == [
        "TCP route 'tcp.example.com:1234': the app gets its own port 1234 on 127.0.0.1, "
        "served through devloop's HTTP router (raw TCP is not proxied)",
        "route 'My_Shop.Example.com' is not a lowercase DNS name; devloop uses 'my-shop.example.com'",
        "internal route 'backend.apps.internal': the project's other apps reach it by that name on "
        "the docker provider (on kind, by its Service name); no public URL, no Ingress",
    ]


def test_health_attributes_are_honoured(cf_dir: Path) -> None:
    text = """
    applications:
    - name: web
      health-check-type: http
      health-check-http-endpoint: /health
      health-check-interval: 30
      health-check-invocation-timeout: 5
      timeout: 180
    """
    health = load(cf_dir, text).apps[0].health
    assert (health.type.value, health.endpoint, health.interval_s, health.invocation_timeout_s, health.timeout_s) == (
        "http", "/health", 30, 5, 180,
    )  # fmt: skip


def test_attributes_not_honoured_get_one_notice_each(cf_dir: Path) -> None:
    text = """
    applications:
    - name: a
      disk_quota: 1G
      log-rate-limit-per-second: 16K
      readiness-health-check-type: http
      processes:
      - type: worker
        command: w
        readiness-health-check-type: process
    - name: b
      disk_quota: 2G
      log-rate-limit-per-second: -1
    """
    project = load(cf_dir, text)
    assert [a.disk_mb for a in project.apps] == [1024, 2048]
    assert messages(project) == [
        "log-rate-limit-per-second is not honoured locally: devloop does not limit log lines (and 1 more place)",
        "disk_quota: the kind provider and `export` set it as the ephemeral-storage limit; "
        "the docker provider does not limit disk (and 1 more place)",
        "readiness-health-check-type is not honoured locally: an instance joins its routes when its health "
        "check passes; the separate readiness check is recorded, not run (and 1 more place)",
    ]


def test_a_service_without_a_type_is_noticed_once(cf_dir: Path) -> None:
    text = "applications:\n- name: a\n  services: [creds, my-postgres]\n- name: b\n  services: [creds]\n"
    project = load(cf_dir, text)
    assert [m for m in messages(project) if "creds" in m] == [
        "service 'creds': no type in its name (mysql, postgres, rabbitmq, redis); not provisioned. "
        "Name it after its type, or declare it in devloop.yaml: services: [{name: creds, type: ...}] "
        "(and 1 more place)"
    ]
    assert [s.name for s in project.services] == ["my-postgres"]


def test_trailing_tab_after_a_value_is_whitespace_as_in_cf(cf_dir: Path) -> None:
    assert load(cf_dir, "applications:\n- name: web\n  memory: 256M\t\n").apps[0].memory_mb == 256


# --- messages ----------------------------------------------------------------------------------

LOOKED_FOR = "devloop looked for `applications:` (a Cloud Foundry manifest, or `inherit:` of one) or `apps:` (a devloop.yaml)"


def test_a_file_without_apps_says_what_devloop_looked_for(cf_dir: Path) -> None:
    err = error(cf_dir, "memory: 1G\nbuildpack: python_buildpack\n")
    assert err.message == f"no list of apps here: {LOOKED_FOR}; this file's top-level keys: memory, buildpack"


BAD_SHAPES = [
    "applications:\n- name: web\n  routes: [a.example.com]\n",
    "applications:\n- name: web\n  docker: nginx\n",
    "applications:\n- name: web\n  processes: [worker]\n",
    "applications:\n- name: web\n  sidecars: [{name: s, command: c, process_types: web}]\n",
    "applications:\n- name: web\n  services: [{nam: db}]\n",
    "applications: {name: web}\n",
    "applications:\n- web\n",
]


@pytest.mark.parametrize("text", BAD_SHAPES)
def test_no_internal_class_names_in_messages(cf_dir: Path, text: str) -> None:
    message = error(cf_dir, text).message
    assert not re.search(r"\bCf[A-Z]\w*|\w+Config\b|instance of", message), message
