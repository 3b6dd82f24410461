"""Real-world cf manifests in the shape `cfschema` validates: v6 attributes, globals, inherit.

Public manifests are written for every cf CLI since v6: `host`/`domain` instead of
`routes`, attributes at the top level that apply to every app, `inherit:` of a
parent manifest, keys cf itself ignores. cf accepts all of these, so devloop
does too: each is mapped to what it means (routes, merged attributes) or
ignored as cf ignores it, with at most one notice per attribute saying so.
"""

from __future__ import annotations

import copy
import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from devloop.config import cfschema, files
from devloop.config.errors_map import known_keys
from devloop.config.yamlpos import Positions, YamlPath, drop_unresolved, load_yaml
from devloop.core.spec import Notice
from devloop.errors import ConfigError

V6_ROUTE_KEYS = ("host", "hosts", "domain", "domains", "no-hostname")
V6_EXPLAIN = {
    "host": "`host` is a cf v6 attribute (cf v7 replaced it with `routes:`)",
    "hosts": "`hosts` is a cf v6 attribute (cf v7 replaced it with `routes:`)",
    "domain": "`domain` is a cf v6 attribute (cf v7 replaced it with `routes:`)",
    "domains": "`domains` is a cf v6 attribute (cf v7 replaced it with `routes:`)",
    "no-hostname": "`no-hostname` is a cf v6 attribute (cf v7 replaced it with `routes:`)",
}
LOCAL_DEFAULT_DOMAIN = "localhost"  # stands in for the foundation's default shared domain
RANDOM_WORD = "${random-word}"  # cf v6's placeholder for a random host part
MAX_INHERIT = 10

_APP_KEYS = frozenset(known_keys(cfschema.CfApp))
_GLOBAL_KEYS = (_APP_KEYS | frozenset(V6_ROUTE_KEYS)) - {"name"}
_TOP_KEYS = frozenset({"version", "applications", "inherit"})
_NESTED: dict[str, type[BaseModel]] = {
    "processes": cfschema.CfProcess,
    "sidecars": cfschema.CfSidecar,
    "routes": cfschema.CfRoute,
    "services": cfschema.CfServiceBinding,
}


@dataclass
class NoticeBook:
    """Notices keyed by what they are about: the first place is kept, the others counted."""

    notices: dict[str, Notice] = field(default_factory=dict)
    more: dict[str, int] = field(default_factory=dict)
    origins: dict[str, str] = field(default_factory=dict)  # top-level key -> where a parent wrote it

    def add(self, key: str, where: str, message: str) -> None:
        if key in self.notices:
            self.more[key] = self.more.get(key, 0) + 1
        else:
            self.notices[key] = Notice(where, message)

    def all(self) -> tuple[Notice, ...]:
        out = []
        for key, notice in self.notices.items():
            extra = self.more.get(key, 0)
            suffix = f" (and {extra} more place{'s' if extra > 1 else ''})" if extra else ""
            out.append(Notice(notice.where, notice.message + suffix))
        return tuple(out)


def normalise(
    data: dict[str, Any],
    positions: Positions,
    file: Path,
    variables: Mapping[str, Any] | None,
    book: NoticeBook,
    *,
    lenient: bool = False,
) -> dict[str, Any]:
    """The document as `{version, applications}`: inherit resolved, globals and v6 keys mapped."""
    data = _inherit(data, positions, file, variables, book, depth=0, lenient=lenient)
    apps = data.get("applications")
    top: dict[str, Any] = {}
    globals_: dict[str, Any] = {}
    for key, value in data.items():
        where = book.origins.get(key) or str(positions.at((key,), key=True))
        if key in _TOP_KEYS:
            if key != "inherit":
                top[key] = value
        elif key in _GLOBAL_KEYS:
            globals_[key] = value
            book.add(f"global:{key}", where, f"top-level `{key}` applies to every app "
                     "(a cf v6 global attribute; cf v7 wants it in each app)")  # fmt: skip
        elif (key,) in positions.referenced:
            continue  # a key that only holds YAML anchors for the apps (e.g. `defaults: &defaults`)
        else:
            message = f"top-level key `{key}` is not a cf manifest attribute; ignored, as cf does"
            book.add(f"top:{key}", where, message)
    if not isinstance(apps, list):
        return top  # the schema reports a missing or malformed list
    out = []
    for i, app in enumerate(apps):
        if not isinstance(app, dict):
            out.append(app)
            continue
        at: YamlPath = ("applications", i)
        merged = _apply_globals(app, globals_, positions, at)
        out.append(_app(merged, positions, at, book))
    top["applications"] = out
    return top


def _apply_globals(
    app: dict[str, Any], globals_: dict[str, Any], positions: Positions, at: YamlPath
) -> dict[str, Any]:
    merged = dict(app)
    for key, value in globals_.items():
        if key == "env" and isinstance(value, dict) and isinstance(app.get("env"), dict):
            merged["env"] = {**value, **app["env"]}
        elif key == "services" and isinstance(value, list) and isinstance(app.get("services"), list):
            merged["services"] = [*app["services"], *(s for s in value if s not in app["services"])]
        elif key not in app:
            merged[key] = copy.deepcopy(value)
            _copy_positions(positions, (key,), (*at, key))
    return merged


def _copy_positions(positions: Positions, source: YamlPath, target: YamlPath) -> None:
    """Errors in a value taken from elsewhere point where it is written."""
    for table in (positions.values, positions.keys):
        for path, pos in list(table.items()):
            if path[: len(source)] == source:
                table.setdefault((*target, *path[len(source) :]), pos)


def _inherit(
    data: dict[str, Any],
    positions: Positions,
    file: Path,
    variables: Mapping[str, Any] | None,
    book: NoticeBook,
    depth: int,
    lenient: bool = False,
) -> dict[str, Any]:
    parent_name = data.get("inherit")
    if parent_name is None:
        return data
    where = positions.at(("inherit",))
    if not isinstance(parent_name, str) or not parent_name:
        raise ConfigError(where, "inherit: expected the path of a parent manifest")
    if depth >= MAX_INHERIT:
        raise ConfigError(where, f"inherit: more than {MAX_INHERIT} levels (a cycle?)")
    parent_file = files.resolve(file.parent / parent_name)
    try:
        text = files.read_text(parent_file)
    except OSError as exc:
        raise ConfigError(where, f"inherit: cannot read {parent_name} ({exc.strerror})") from None
    shown = file.parent / parent_name  # as the user sees the child's path: relative stays relative
    parent, parent_positions = load_yaml(text, str(shown), variables, lenient=lenient)
    if lenient:
        parent = drop_unresolved(parent)
    if not isinstance(parent, dict):
        raise ConfigError(where, f"inherit: {parent_name} is not a manifest (its top level is not a mapping)")
    parent = _inherit(parent, parent_positions, shown, variables, book, depth + 1, lenient)
    book.add(
        "inherit", str(where),
        f"`inherit: {parent_name}` is cf v6 only (cf v7 removed it); "
        "devloop merges the parent in as cf v6 did",
    )  # fmt: skip
    merged = {k: v for k, v in parent.items() if k != "applications"}
    for key in merged:
        if key not in data:
            book.origins.setdefault(key, str(parent_positions.at((key,), key=True)))
    for key, value in data.items():
        if key == "env" and isinstance(value, dict) and isinstance(merged.get("env"), dict):
            merged["env"] = {**merged["env"], **value}
        elif key != "applications":
            merged[key] = value
    merged.pop("inherit", None)
    parent_apps = _list(parent.get("applications"))
    child_apps = _list(data.get("applications"))
    if parent_apps or child_apps:
        merged["applications"] = _merge_apps(parent_apps, child_apps)
    return merged


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _merge_apps(parents: list[Any], children: list[Any]) -> list[Any]:
    """Apps of both, by name; a child's attributes override its parent's (env merged)."""
    by_name = {a.get("name"): a for a in children if isinstance(a, dict)}
    out: list[Any] = []
    for parent in parents:
        child = by_name.pop(parent.get("name"), None) if isinstance(parent, dict) else None
        if child is None:
            out.append(parent)
            continue
        merged = {**parent, **child}
        if isinstance(parent.get("env"), dict) and isinstance(child.get("env"), dict):
            merged["env"] = {**parent["env"], **child["env"]}
        out.append(merged)
    out += [c for c in children if not isinstance(c, dict) or c.get("name") in by_name]
    return out


def _app(app: dict[str, Any], positions: Positions, at: YamlPath, book: NoticeBook) -> dict[str, Any]:
    out: dict[str, Any] = {}
    v6: dict[str, Any] = {}

    def where(key: str) -> str:
        return str(positions.at((*at, key), key=True))

    for key, value in app.items():
        if key in V6_ROUTE_KEYS:
            v6[key] = value
        elif key in _APP_KEYS:
            model = _NESTED.get(key)
            out[key] = _strip_list(value, model, positions, (*at, key), book) if model else value
        else:
            book.add(f"app:{key}", where(key), _unknown(key, _APP_KEYS))
    if v6:
        if out.get("routes"):
            first = next(iter(v6))
            raise ConfigError(
                positions.at((*at, first), key=True),
                f"app {app.get('name')!r} has both `routes` and `{first}`: cf refuses that too; "
                "keep `routes` (cf v7) or the v6 host/domain attributes, not both",
            )
        routes = _v6_routes(app.get("name"), v6, bool(app.get("random-route")), positions, at, book)
        if routes and not out.get("no-route"):
            out["routes"] = [{"route": r} for r in routes]
    return out


def _strip_list(
    value: Any, model: type[BaseModel], positions: Positions, at: YamlPath, book: NoticeBook
) -> Any:
    """Entries of a list of mappings (processes, sidecars, routes, services) without unknown keys."""
    if not isinstance(value, list):
        return value
    keys = frozenset(known_keys(model))
    out = []
    for j, item in enumerate(value):
        if isinstance(item, dict):
            kept = {}
            for key, inner in item.items():
                if key in keys:
                    kept[key] = inner
                else:
                    where = str(positions.at((*at, j, key), key=True))
                    book.add(f"{at[-1]}:{key}", where, _unknown(key, keys, f"a {at[-1]} entry"))
            item = kept
        out.append(item)
    return out


def _unknown(key: str, keys: frozenset[str], what: str = "an app") -> str:
    close = difflib.get_close_matches(key, sorted(keys), n=1, cutoff=0.7)
    hint = f"; did you mean `{close[0]}`?" if close else ""
    return f"`{key}` is not a cf attribute of {what}; ignored, as cf ignores it{hint}"


def _names(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, list):
        return [str(v) for v in value if v is not None]
    return [str(value)]


def _v6_routes(
    name: Any, v6: dict[str, Any], random_route: bool, positions: Positions, at: YamlPath, book: NoticeBook
) -> list[str]:
    """cf v6's routes: every host on every domain (the app name and the default domain if none)."""
    hosts = _names(v6.get("hosts")) + _names(v6.get("host"))
    domains = _names(v6.get("domains")) + _names(v6.get("domain"))
    no_hostname = v6.get("no-hostname") is True
    routes: list[str] = []
    if hosts or no_hostname or not random_route:  # random-route alone: the app's stable local route
        for domain in domains or [LOCAL_DEFAULT_DOMAIN]:
            for host in [""] if no_hostname else hosts or [str(name)]:
                host = host.replace(RANDOM_WORD, "").strip("-.")
                route = f"{host}.{domain}" if host else domain
                if route not in routes:
                    routes.append(route)
    mapped = f"routes: {', '.join(routes)}" if routes else "the app's own local route"
    for key in v6:
        book.add(f"v6:{key}", str(positions.at((*at, key), key=True)),
                 f"{V6_EXPLAIN[key]}; devloop maps it, as cf v6 did, to {mapped}")  # fmt: skip
    return routes


_LABEL_BAD = re.compile(r"-*[^a-z0-9-]+-*")


def dns_route(route: str) -> str:
    """The route with each host label lower case and DNS-valid (`My_App.example.com` -> `my-app...`)."""
    scheme, sep, rest = route.rpartition("://")
    host_port, slash, path = rest.partition("/")
    host, colon, port = host_port.partition(":")
    labels = []
    for label in host.replace(RANDOM_WORD, "").lower().split("."):
        cleaned = _LABEL_BAD.sub("-", label).strip("-")[:63].strip("-")
        if label == "*":
            cleaned = "*"
        if cleaned:
            labels.append(cleaned)
    return f"{scheme}{sep}{'.'.join(labels)}{colon}{port}{slash}{path}"
