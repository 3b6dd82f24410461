"""Property-based: any document either loads or fails with a located ConfigError. Nothing else."""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from devloop.config.loader import load_project
from devloop.errors import ConfigError, UsageError

APP_KEYS = ["name", "path", "instances", "memory", "disk_quota", "command", "env", "port", "route", "routes",
            "no_route", "host_port", "health_check", "sync", "on_sync", "depends_on", "dockerfile", "image", "language",
            "build_args", "env_file", "processes", "sidecars", "instnces", "bogus"]  # fmt: skip
CF_KEYS = ["name", "path", "instances", "memory", "disk_quota", "command", "env", "routes", "no-route",
           "random-route", "health-check-type", "health-check-http-endpoint", "timeout", "docker", "buildpacks",
           "stack", "services", "processes", "sidecars", "metadata", "instance", "health_check_type",
           # cf v6 and newer attributes real manifests use
           "host", "hosts", "domain", "domains", "no-hostname", "buildpack", "health-check-interval",
           "health-check-invocation-timeout", "readiness-health-check-type", "log-rate-limit-per-second",
           "default-route", "lifecycle", "features"]  # fmt: skip
CF_TOP = ["memory", "instances", "env", "host", "domain", "buildpack", "path", "services", "inherit",
          "declared-services", "timeout"]  # fmt: skip
DNS_1035 = re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])?")

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-5, 70000), st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from(["web", "256M", "1G", "256X", "http", "port", "process", "/health", ".", "..", "((v))",
                     "*.py", "/app", "docker", "kind", "python", "", "web-2", "Web_App", "1.2G", "2g", "1024MB",
                     "((a.b))", "((missing))", "x-((v))", "Shop API", "東京", "1st", "target/app.jar", "site.zip",
                     "parent.yml", "nope.yml", "python_buildpack", "https://github.com/cloudfoundry/go-buildpack",
                     "a.apps.internal", "tcp.example.com:1234", "Web.Example.com/api", "${random-word}"]),
    st.text(max_size=12),
)  # fmt: skip
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.sampled_from(["type", "endpoint", "src", "dest", "signal", "route",
                                                                  "image", "A", "name"]), inner, max_size=3)),
    max_leaves=8)  # fmt: skip


def apps(keys: list[str]) -> st.SearchStrategy[list[dict[str, object]]]:
    return st.lists(st.dictionaries(st.sampled_from(keys), values, max_size=6), max_size=3)


devloop_docs = st.fixed_dictionaries(
    {"apps": apps(APP_KEYS)},
    optional={
        "provider": values,
        "version": values,
        "cluster": values,
        "provder": values,
        "router_port": values,
    },
)
cf_docs = st.fixed_dictionaries(
    {"applications": apps(CF_KEYS)}, optional={"version": values, **{k: values for k in CF_TOP}}
)


@st.composite
def cf_texts_with_anchors(draw: st.DrawFn) -> str:
    """A manifest written as people write them: a top-level anchor merged into apps, then overrides."""
    defaults = draw(st.dictionaries(st.sampled_from(CF_KEYS), values, max_size=4))
    lines = [
        yaml.safe_dump({"defaults": defaults}, sort_keys=False).replace("defaults:", "defaults: &defaults", 1)
    ]
    lines.append("applications:\n")
    for app in draw(st.lists(st.dictionaries(st.sampled_from(CF_KEYS), values, max_size=4), max_size=3)):
        body = yaml.safe_dump(app, sort_keys=False) if app else ""
        lines.append("- <<: *defaults\n" + "".join(f"  {line}\n" for line in body.splitlines()))
    return "".join(lines)


FOLDER = Path(tempfile.mkdtemp(prefix="devloop-fuzz-"))
(FOLDER / "requirements.txt").write_text("")
(FOLDER / "app.py").write_text("")
(FOLDER / "parent.yml").write_text(
    "memory: 256M\nenv: {FROM_PARENT: '1'}\napplications:\n- name: parent-app\n"
)
VARIABLES = {"v": "1", "a": {"b": 2}}


def check(document: object, name: str) -> None:
    check_text(yaml.safe_dump(document, sort_keys=False), name)


def check_text(text: str, name: str) -> None:
    path = FOLDER / name
    path.write_text(text)
    try:
        project = load_project(path, VARIABLES)
    except ConfigError as exc:
        assert exc.location.file in (str(path), str(FOLDER / "parent.yml")), str(exc)
        assert exc.location.line is not None, str(exc)
        # No internal class name (CfApp, AppConfig) in the message; the user's own words may be anything.
        said = exc.message
        for word in sorted(set(re.findall(r"[\w.-]+", text)), key=len, reverse=True):
            said = said.replace(word, "")
        assert not re.search(r"\bCf[A-Z]\w*|\w+Config\b|instance of", said), exc.message
    except UsageError:
        pass  # e.g. a file that cannot be read: also one clear message
    else:
        names = [app.name for app in project.apps]
        assert len(set(names)) == len(names) and all(DNS_1035.fullmatch(n) and len(n) <= 50 for n in names)
        assert not any(re.search(r"\bCf[A-Z]\w*", n.message) for n in project.notices)
        if name == "manifest.yml":
            # every manifest also loads leniently, as `down` and `status` read it
            load_project(path, {}, lenient=True)


# 250 generated documents per test in the default run (about 8 s each on 2 cores); a longer hunt
# with DEVLOOP_FUZZ_EXAMPLES=5000. Hypothesis keeps the failures it found and replays them first.
EXAMPLES = int(os.environ.get("DEVLOOP_FUZZ_EXAMPLES", "250"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(devloop_docs)
def test_devloop_yaml_documents(document: dict[str, object]) -> None:
    check(document, "devloop.yaml")


@FUZZ
@given(cf_docs)
def test_cf_manifest_documents(document: dict[str, object]) -> None:
    check(document, "manifest.yml")


@FUZZ
@given(cf_texts_with_anchors())
def test_cf_manifests_with_merge_keys(text: str) -> None:
    check_text(text, "manifest.yml")


@settings(max_examples=EXAMPLES * 6 // 5, deadline=None)  # 300 by default
@given(st.text(alphabet=st.sampled_from(list("apps:-{}[]\"'\n\t #&*!|>?%@`,name web 1")), max_size=80))
def test_arbitrary_text_never_escapes(text: str) -> None:
    path = FOLDER / "devloop.yaml"
    path.write_text(text)
    try:
        load_project(path, {})
    except ConfigError as exc:
        assert exc.location.file == str(path)


def test_alias_bomb_is_refused() -> None:
    # 12 levels of 4 aliases each: a 300-byte file that would expand to 150 million values.
    levels = ["a: &a ['x', 'x', 'x', 'x', 'x', 'x', 'x', 'x', 'x']"]
    levels += [f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}]"
               for i in range(12)]  # fmt: skip
    path = FOLDER / "devloop.yaml"
    path.write_text("\n".join(levels) + "\napps: [{name: web}]\n")
    with pytest.raises(ConfigError, match=r"expands to more than 50,000 values \(YAML aliases\?\)") as info:
        load_project(path, {})
    assert info.value.location.line is not None
