"""Config loading: good documents become AppSpecs, bad ones one located ConfigError."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from devloop.config.files import find_config
from devloop.config.loader import load_project, load_vars
from devloop.core.spec import HealthCheckType, Language, ProjectSpec, ProviderKind
from devloop.errors import ConfigError, UsageError


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    return path


def load(
    folder: Path, text: str, name: str = "devloop.yaml", variables: dict[str, object] | None = None
) -> ProjectSpec:
    return load_project(write(folder, name, text), variables)


# --- good documents ---------------------------------------------------------------


def test_minimal_devloop_yaml(app_dir: Path) -> None:
    project = load(app_dir, "apps: [{name: web}]")
    (app,) = project.apps
    assert app.name == "web"
    assert app.source == app_dir.resolve()
    assert app.build is not None and app.build.language is Language.PYTHON
    assert app.instances == 1 and app.port == 8080
    assert project.provider is ProviderKind.KIND and project.cluster == "devloop"


def test_full_devloop_yaml(app_dir: Path) -> None:
    (app_dir / "Dockerfile.dev").write_text("FROM python:3.12-slim\n")
    (app_dir / ".env").write_text("# comment\nexport API_KEY='s3cr3t'\nTOKEN=abc # trailing\n")
    (app_dir / "db").mkdir()
    (app_dir / "db" / "Dockerfile").write_text("FROM scratch\n")
    project = load(
        app_dir,
        """
        provider: docker
        cluster: mine
        apps:
          - name: web
            dockerfile: Dockerfile.dev
            target: dev
            build_args: {PY: 3.12, DEBUG: true}
            instances: 3
            memory: 1G
            disk_quota: 512MB
            command: python app.py
            env: {A: 1, B: false, C: text}
            env_file: .env
            port: 5000
            route: web.localhost
            health_check: {type: http, endpoint: /health, timeout: 30}
            sync:
              - {src: "**/*.py", dest: /app}
            on_sync: {signal: HUP}
            depends_on: [db]
          - name: db
            path: db
        """,
    )
    web = project.app("web")
    assert project.provider is ProviderKind.DOCKER and project.cluster == "mine"
    assert web.build is not None and web.build.dockerfile == (app_dir / "Dockerfile.dev").resolve()
    assert web.build.target == "dev" and web.build.args == (("PY", "3.12"), ("DEBUG", "true"))
    assert (web.instances, web.memory_mb, web.disk_mb) == (3, 1024, 512)
    assert web.env == (("A", "1"), ("B", "false"), ("C", "text"))
    assert web.secret_env == (("API_KEY", "s3cr3t"), ("TOKEN", "abc"))
    assert web.port == 5000 and web.routes == ("web.localhost",)
    assert web.health.type is HealthCheckType.HTTP and web.health.endpoint == "/health"
    assert web.health.timeout_s == 30
    assert web.sync[0].src == "**/*.py" and web.sync_restart is not None
    assert web.sync_restart.signal == "HUP"
    assert web.depends_on == ("db",)
    db = project.app("db")
    assert db.build is not None and db.build.dockerfile == (app_dir / "db" / "Dockerfile").resolve()


CF_MANIFEST = """
---
applications:
- name: shop
  path: .
  instances: 2
  memory: 512M
  disk_quota: 1G
  command: python app.py
  buildpacks: [python_buildpack]
  stack: cflinuxfs4
  env:
    FLAG: true
    GREETING: ((greeting))
  routes:
  - route: shop.example.com
  health-check-type: http
  health-check-http-endpoint: /ready
  timeout: 90
  services: [shop-db, orders-postgres, {name: cache-redis}]
  processes:
  - type: worker
    command: python worker.py
    instances: 1
    memory: 128M
    health-check-type: process
  sidecars:
  - name: proxy
    process_types: [web]
    command: ./proxy
    memory: 64M
"""


def test_cf_manifest_maps_onto_appspec(app_dir: Path) -> None:
    project = load(app_dir, CF_MANIFEST, name="manifest.yml", variables={"greeting": "hello"})
    (app,) = project.apps
    assert (app.name, app.instances, app.memory_mb, app.disk_mb) == ("shop", 2, 512, 1024)
    assert app.command == "python app.py"
    assert app.env == (("FLAG", "true"), ("GREETING", "hello"))
    assert app.routes == ("shop.example.com",)
    assert app.health.type is HealthCheckType.HTTP and app.health.endpoint == "/ready"
    assert app.health.timeout_s == 90
    # Services are matched by the type in their name; one without a type is said, not bound.
    assert app.services == ("orders-postgres", "cache-redis") and app.buildpacks == ("python_buildpack",)
    assert [(s.name, s.type.name) for s in project.services] == [("orders-postgres", "postgres"),
                                                                 ("cache-redis", "redis")]  # fmt: skip
    assert any("service 'shop-db': no type in its name" in str(n) for n in project.notices)
    assert app.processes[0].type == "worker" and app.processes[0].memory_mb == 128
    assert app.processes[0].health.type is HealthCheckType.PROCESS
    assert app.sidecars[0].name == "proxy" and app.sidecars[0].process_types == ("web",)
    assert app.build is not None and app.build.language is Language.PYTHON


def test_cf_manifest_reports_what_it_cannot_honour_once(app_dir: Path) -> None:
    project = load(app_dir, CF_MANIFEST, name="manifest.yml", variables={"greeting": "hi"})
    messages = [str(n) for n in project.notices]
    assert any("manifest.yml:9:3" in m and "buildpacks (python_buildpack)" in m for m in messages)
    assert any("manifest.yml:10:3" in m and "stack" in m for m in messages)
    assert any("manifest.yml:19:" in m and "no type in its name" in m for m in messages)
    assert len(messages) == len(set(messages))


def test_cf_docker_image_and_health_none(app_dir: Path) -> None:
    project = load(
        app_dir,
        """
        applications:
        - name: api
          docker: {image: "repo/api:1.2"}
          health-check-type: none
          no-route: true
        """,
        name="manifest.yml",
    )
    (app,) = project.apps
    assert app.image == "repo/api:1.2" and app.build is None
    assert app.health.type is HealthCheckType.PROCESS and app.no_route


def test_vars_file_and_var_pairs(tmp_path: Path) -> None:
    vars_file = write(tmp_path, "vars.yml", "instances: 3\nname: from-file\n")
    variables = load_vars([vars_file], ["name=from-flag"])
    assert variables == {"instances": 3, "name": "from-flag"}


def test_whole_value_variable_keeps_its_type(app_dir: Path) -> None:
    project = load(
        app_dir, "apps: [{name: web, instances: ((n)), memory: ((m))M}]", variables={"n": 4, "m": 64}
    )
    assert project.apps[0].instances == 4 and project.apps[0].memory_mb == 64


def test_find_config_prefers_devloop_yaml(tmp_path: Path) -> None:
    write(tmp_path, "manifest.yml", "applications: []")
    assert find_config(None, tmp_path).name == "manifest.yml"
    write(tmp_path, "devloop.yaml", "apps: []")
    assert find_config(None, tmp_path).name == "devloop.yaml"
    with pytest.raises(UsageError, match="does not exist"):
        find_config(Path("nope.yml"), tmp_path)


def test_find_config_without_any_file(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"no devloop\.yaml or manifest\.yml") as info:
        find_config(None, tmp_path)
    assert info.value.hint is not None and "devloop init" in info.value.hint


def test_provider_override(app_dir: Path) -> None:
    path = write(app_dir, "devloop.yaml", "provider: kind\napps: [{name: web}]")
    assert load_project(path, {}, "docker").provider is ProviderKind.DOCKER


# --- bad documents: (name, file, text, message fragment, line, column) -------------------

BAD = [
    ("yaml-unclosed-flow", "devloop.yaml", "apps: [{name: web}\n", "YAML syntax error", 2, 1),
    ("yaml-tab", "devloop.yaml", "apps:\n\t- name: web\n", "YAML syntax error", 2, 1),
    ("yaml-bad-indent", "devloop.yaml", "apps:\n  - name: web\n instances: 2\n", "YAML syntax error", 3, 2),
    (
        "yaml-duplicate-key",
        "devloop.yaml",
        "apps:\n  - name: web\n    name: api\n",
        "duplicate key 'name'",
        3,
        5,
    ),
    ("empty-file", "devloop.yaml", "", "the file is empty", 1, 1),
    ("top-level-list", "devloop.yaml", "- name: web\n", "top level must be a mapping", 1, 1),
    ("no-apps", "devloop.yaml", "provider: docker\n", "devloop looked for `applications:`", 1, 1),
    ("empty-apps", "devloop.yaml", "apps: []\n", "at least 1 item", 1, 7),
    (
        "unknown-top-key",
        "devloop.yaml",
        "apps: [{name: web}]\nprovder: docker\n",
        "did you mean 'provider'",
        2,
        1,
    ),
    (
        "unknown-app-key",
        "devloop.yaml",
        "apps:\n  - name: web\n    instnces: 2\n",
        "did you mean 'instances'",
        3,
        5,
    ),
    ("unknown-key-no-close-match", "devloop.yaml", "apps:\n  - name: web\n    zzz: 1\n", "known keys:", 3, 5),
    (
        "unknown-health-key",
        "devloop.yaml",
        "apps:\n  - name: web\n    health_check: {tpye: http}\n",
        "did you mean 'type'",
        3,
        20,
    ),
    ("missing-name", "devloop.yaml", "apps:\n  - instances: 2\n", "missing required key 'name'", 2, 5),
    ("bad-memory", "devloop.yaml", "apps:\n  - name: web\n    memory: 256X\n", "invalid size '256X'", 3, 13),
    ("zero-memory", "devloop.yaml", "apps:\n  - name: web\n    memory: 0M\n", "must be at least 1M", 3, 13),
    (
        "instances-string",
        "devloop.yaml",
        "apps:\n  - name: web\n    instances: two\n",
        "valid integer",
        3,
        16,
    ),
    (
        "instances-negative",
        "devloop.yaml",
        "apps:\n  - name: web\n    instances: -1\n",
        "greater than or equal to 0",
        3,
        16,
    ),
    (
        "port-too-high",
        "devloop.yaml",
        "apps:\n  - name: web\n    port: 70000\n",
        "less than or equal to 65535",
        3,
        11,
    ),
    (
        "provider-unknown",
        "devloop.yaml",
        "provider: minikube\napps: [{name: web}]\n",
        "'kind' or 'docker'",
        1,
        11,
    ),
    ("bad-app-name", "devloop.yaml", "apps:\n  - name: Web_App\n", "invalid app name 'Web_App'", 2, 11),
    (
        "health-type",
        "devloop.yaml",
        "apps:\n  - name: web\n    health_check: {type: tcp}\n",
        "'port', 'process' or 'http'",
        3,
        26,
    ),
    (
        "health-endpoint-relative",
        "devloop.yaml",
        "apps:\n  - name: web\n    health_check: {type: http, endpoint: health}\n",
        "must start with '/'",
        3,
        42,
    ),
    (
        "sync-dest-relative",
        "devloop.yaml",
        "apps:\n  - name: web\n    sync: [{src: a, dest: app}]\n",
        "absolute path in the container",
        3,
        27,
    ),
    (
        "sync-src-escapes",
        "devloop.yaml",
        "apps:\n  - name: web\n    sync: [{src: ../x, dest: /app}]\n",
        "inside the app folder",
        3,
        18,
    ),
    (
        "on-sync-both",
        "devloop.yaml",
        "apps:\n  - name: web\n    on_sync: {signal: HUP, run: x}\n",
        "exactly one of 'signal' or 'run'",
        3,
        14,
    ),
    (
        "env-not-mapping",
        "devloop.yaml",
        "apps:\n  - name: web\n    env: [A=1]\n",
        "expected a mapping",
        3,
        10,
    ),
    (
        "image-and-dockerfile",
        "devloop.yaml",
        "apps:\n  - name: web\n    image: x\n    dockerfile: D\n",
        "either 'image'",
        2,
        5,
    ),
    (
        "path-missing",
        "devloop.yaml",
        "apps:\n  - name: web\n    path: nowhere\n",
        "path 'nowhere' does not exist",
        3,
        11,
    ),
    ("path-is-file", "devloop.yaml", "apps:\n  - name: web\n    path: app.py\n", "is a file", 3, 11),
    (
        "dockerfile-missing",
        "devloop.yaml",
        "apps:\n  - name: web\n    dockerfile: Dockerfile.prod\n",
        "Dockerfile 'Dockerfile.prod' does not exist",
        3,
        17,
    ),
    (
        "env-file-missing",
        "devloop.yaml",
        "apps:\n  - name: web\n    env_file: .env.local\n",
        "env file '.env.local' does not exist",
        3,
        15,
    ),
    (
        "duplicate-app",
        "devloop.yaml",
        "apps:\n  - name: web\n  - name: web\n",
        "duplicate app name 'web'",
        3,
        11,
    ),
    (
        "depends-unknown",
        "devloop.yaml",
        "apps:\n  - name: web\n    depends_on: [wbe]\n  - name: web2\n",
        "did you mean 'web'",
        3,
        18,
    ),
    (
        "depends-self",
        "devloop.yaml",
        "apps:\n  - name: web\n    depends_on: [web]\n",
        "depends on itself",
        3,
        18,
    ),
    (
        "depends-cycle",
        "devloop.yaml",
        "apps:\n  - name: a\n    depends_on: [b]\n  - name: b\n    depends_on: [a]\n",
        "cycle: a -> b -> a",
        3,
        17,
    ),
    (
        "missing-var",
        "devloop.yaml",
        "apps:\n  - name: web\n    command: run ((cmd))\n",
        "variable ((cmd)) has no value",
        3,
        14,
    ),
    ("version-2", "devloop.yaml", "version: 2\napps: [{name: web}]\n", "should be 1", 1, 10),
    (
        "build-args-nested",
        "devloop.yaml",
        "apps:\n  - name: web\n    build_args: {A: [1]}\n",
        "build_args.A: expected a string, number or boolean, got a list",
        3,
        21,
    ),
    (
        "cf-bad-memory",
        "manifest.yml",
        "applications:\n- name: web\n  memory: 1X\n",
        "invalid size '1X'",
        3,
        11,
    ),
    (
        "cf-health-type",
        "manifest.yml",
        "applications:\n- name: web\n  health-check-type: tcp\n",
        "'port', 'process', 'http' or 'none'",
        3,
        22,
    ),
    (
        "cf-routes-strings",
        "manifest.yml",
        "applications:\n- name: web\n  routes: [a.example.com]\n",
        "expected a mapping",
        3,
        12,
    ),
    (
        "cf-no-route-and-routes",
        "manifest.yml",
        "applications:\n- name: web\n  no-route: true\n  routes:\n  - route: a.b\n",
        "cannot both be set",
        3,
        3,
    ),
    (
        "cf-endpoint-without-http",
        "manifest.yml",
        "applications:\n- name: web\n  health-check-type: process\n  health-check-http-endpoint: /h\n",
        "needs health-check-type: http",
        4,
        3,
    ),
    ("cf-no-applications", "manifest.yml", "applications: []\n", "at least 1 item", 1, 15),
    (
        "cf-sidecar-missing-types",
        "manifest.yml",
        "applications:\n- name: web\n  sidecars:\n  - name: s\n    command: x\n",
        "missing required key 'process_types'",
        4,
        5,
    ),
    (
        "cf-sidecar-unknown-process",
        "manifest.yml",
        "applications:\n- name: web\n  processes:\n  - {type: worker, command: w}\n  sidecars:\n"
        "  - name: s\n    command: x\n    process_types: [web, wroker]\n",
        "names process type 'wroker', which 'web' does not have (did you mean 'worker'?)",
        8,
        26,
    ),
    (
        "cf-duplicate-process",
        "manifest.yml",
        "applications:\n- name: web\n  processes:\n  - {type: worker, command: a}\n  - {type: worker, command: b}\n",
        "duplicate process type 'worker'",
        5,
        12,
    ),
    (
        "process-without-command",
        "devloop.yaml",
        "apps:\n  - name: web\n    processes:\n      - type: clock\n        instances: 1\n",
        "process type 'clock' has no command",
        4,
        9,
    ),
    (
        "sidecar-named-like-process",
        "devloop.yaml",
        "apps:\n  - name: web\n    processes: [{type: worker, command: w}]\n"
        "    sidecars: [{name: worker, command: s}]\n",
        "sidecar name 'worker' is already taken",
        4,
        23,
    ),
    (
        "cf-docker-no-image",
        "manifest.yml",
        "applications:\n- name: web\n  docker: {username: me}\n",
        "missing required key 'image'",
        3,
        11,
    ),
]


@pytest.mark.parametrize(("name", "file", "text", "fragment", "line", "column"), BAD, ids=[b[0] for b in BAD])
def test_bad_config(
    app_dir: Path, name: str, file: str, text: str, fragment: str, line: int, column: int
) -> None:
    path = app_dir / file
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_project(path, {})
    error = info.value
    assert fragment in error.message, error.message
    assert (error.location.line, error.location.column) == (line, column), str(error)
    assert error.location.file == str(path)
    assert error.exit_code == 2


def test_app_without_dockerfile_or_language(tmp_path: Path) -> None:
    write(tmp_path, "devloop.yaml", "apps:\n  - name: web\n")
    with pytest.raises(ConfigError, match="no Dockerfile and no recognised language") as info:
        load_project(tmp_path / "devloop.yaml", {})
    assert info.value.location.line == 2


def test_bad_dotenv_line_is_not_echoed(app_dir: Path) -> None:
    (app_dir / ".env").write_text("GOOD=1\nthis is hunter2\n")
    with pytest.raises(ConfigError) as info:
        load(app_dir, "apps: [{name: web, env_file: .env}]")
    assert "hunter2" not in info.value.render()
    assert info.value.location.line == 2


SERVICES_YAML = """\
version: 1
services:
  - {name: db, type: postgres, port: 15432}
  - {name: cache, type: redis}
apps:
  - name: web
    services: [db, cache]
"""


def test_services_load_and_bind_by_name(app_dir: Path) -> None:
    project = load(app_dir, SERVICES_YAML)
    assert [(s.name, s.type.name, s.host_port) for s in project.services] == [
        ("db", "postgres", 15432),
        ("cache", "redis", None),
    ]
    assert project.apps[0].services == ("db", "cache")


@pytest.mark.parametrize(
    ("change", "where", "message"),
    [
        (("type: redis", "type: mongo"), "devloop.yaml:4:", "unknown service type 'mongo'; known types: mysql, postgres, rabbitmq, redis"),
        (("services: [db, cache]", "services: [db, cahce]"), "devloop.yaml:7:", "app 'web' binds service 'cahce', which is not defined (did you mean 'cache'?); services here: db, cache"),
        (("{name: cache, type: redis}", "{name: cache, type: redis, port: 15432}"), "devloop.yaml:4:", "services 'db' and 'cache' both want port 15432"),
    ],
    ids=["unknown-type", "unknown-binding", "same-port"],
)  # fmt: skip
def test_bad_services_say_where_and_why(
    app_dir: Path, change: tuple[str, str], where: str, message: str
) -> None:
    with pytest.raises(ConfigError) as info:
        load(app_dir, SERVICES_YAML.replace(*change))
    assert where in str(info.value) and message in str(info.value), str(info.value)


def test_a_web_process_entry_overrides_the_apps_own_values_and_workers_default_to_process_checks(
    app_dir: Path,
) -> None:
    (app_dir / "Procfile").write_text("web: python app.py\nclock: python clock.py\n")
    project = load(app_dir, """
        applications:
        - name: shop
          instances: 1
          memory: 256M
          command: python old.py
          processes:
          - type: web
            instances: 3
            health-check-type: http
            health-check-http-endpoint: /ready
          - type: worker
            command: python worker.py
            memory: 64M
          - type: clock
        """, name="manifest.yml")  # fmt: skip
    (app,) = project.apps
    # The web entry's values win where it sets them (cf); the rest stay the app's.
    assert (app.instances, app.memory_mb, app.command) == (3, 256, "python old.py")
    assert app.health.type is HealthCheckType.HTTP and app.health.endpoint == "/ready"
    worker, clock = app.processes
    assert (worker.type, worker.command, worker.memory_mb) == ("worker", "python worker.py", 64)
    assert worker.health.type is HealthCheckType.PROCESS  # cf's default for a non-web process
    assert clock.command == "python clock.py"  # from the Procfile


def test_devloop_yaml_processes_and_sidecars(app_dir: Path) -> None:
    project = load(app_dir, """
        apps:
          - name: web
            processes:
              - {type: web, instances: 2}
              - {type: worker, command: python worker.py, instances: 2}
            sidecars:
              - {name: stats, command: python stats.py, process_types: [web, worker]}
        """)  # fmt: skip
    (app,) = project.apps
    assert app.instances == 2 and [p.type for p in app.processes] == ["worker"]
    assert app.processes[0].health.type is HealthCheckType.PROCESS
    assert app.sidecars[0].process_types == ("web", "worker")
