"""What makes the fake API server say no where a real one does: schema, names, labels, immutable fields, and
server-side apply's field ownership.

The schema is the OpenAPI schema of the served version as `kubernetes-validate` bundles it (the strict
variant: no unknown fields). The semantic checks follow the API server's validation
(k8s.io/apimachinery/pkg/util/validation and pkg/apis/*/validation): DNS-1123 subdomains and labels,
DNS-1035 labels for Services, qualified label keys and values, a workload's selector matching its
template, and the fields that cannot change. Field ownership follows structured-merge-diff closely
enough for what devloop writes: a manager owns the leaves it applied; a leaf it stops applying is
removed unless another manager owns it; list items with a merge key (containers, env, ports, ...) are
owned one by one. `stringData` is folded into `data` after the merge, so a key that came in as
`stringData` is owned under `stringData` only and outlives its removal, as upstream
(kubernetes/kubernetes#108008).
"""

from __future__ import annotations

import base64
import copy
import functools
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import referencing
import referencing.jsonschema

Obj = dict[str, Any]
Path_ = tuple[str, ...]
SCHEMA_VERSION = "1.31.0"  # the schemas of the version the fake serves (SERVER_VERSION)

DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
DNS1035_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
QUALIFIED_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
CONFIG_KEY = re.compile(r"^[-._a-zA-Z0-9]+$")
IANA_SVC_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$")
ENV_NAME = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")

DNS1123_LABEL_MSG = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start "
    "and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is "
    "'[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
)
DNS1123_SUBDOMAIN_MSG = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and "
    "must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is "
    "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)
DNS1035_LABEL_MSG = (
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic "
    "character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for "
    "validation is '[a-z]([-a-z0-9]*[a-z0-9])?')"
)

# kind -> (group, namespaced, name rule); what the fake serves. The name rules are the API server's
# (ValidateObjectMeta's nameFn per resource).
SERVED: dict[str, tuple[str, bool, str]] = {
    "Namespace": ("", False, "label"),
    "Node": ("", False, "subdomain"),
    "PersistentVolume": ("", False, "subdomain"),
    "ConfigMap": ("", True, "subdomain"),
    "Secret": ("", True, "subdomain"),
    "Service": ("", True, "dns1035"),
    "Pod": ("", True, "subdomain"),
    "ServiceAccount": ("", True, "subdomain"),
    "PersistentVolumeClaim": ("", True, "subdomain"),
    "Deployment": ("apps", True, "subdomain"),
    "StatefulSet": ("apps", True, "subdomain"),
    "DaemonSet": ("apps", True, "subdomain"),
    "ReplicaSet": ("apps", True, "subdomain"),
    "Ingress": ("networking.k8s.io", True, "subdomain"),
    "NetworkPolicy": ("networking.k8s.io", True, "subdomain"),
    "PodDisruptionBudget": ("policy", True, "subdomain"),
    "HorizontalPodAutoscaler": ("autoscaling", True, "label"),
    "Job": ("batch", True, "subdomain"),
    "CronJob": ("batch", True, "subdomain"),
    "Role": ("rbac.authorization.k8s.io", True, "path"),
    "RoleBinding": ("rbac.authorization.k8s.io", True, "path"),
    "ClusterRole": ("rbac.authorization.k8s.io", False, "path"),
    "ClusterRoleBinding": ("rbac.authorization.k8s.io", False, "path"),
    "PriorityClass": ("scheduling.k8s.io", False, "subdomain"),
}
STATEFULSET_MUTABLE = {
    "replicas", "ordinals", "template", "updateStrategy", "persistentVolumeClaimRetentionPolicy", "minReadySeconds",
}  # fmt: skip


@dataclass
class Rejected(Exception):
    """A request the API server refuses, as the `Status` it answers with."""

    code: int
    reason: str
    message: str
    details: Obj = field(default_factory=dict)

    def status(self) -> Obj:
        body: Obj = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                     "message": self.message, "reason": self.reason, "code": self.code}  # fmt: skip
        if self.details:
            body["details"] = self.details
        return body


def qualified_kind(kind: str) -> str:
    group = SERVED.get(kind, ("",))[0]
    return f"{kind}.{group}" if group else kind


def invalid(obj: Obj, causes: list[tuple[str, str, str]]) -> Rejected:
    """422 Invalid, worded as the API server words it: `Kind.group "name" is invalid: field: message`."""
    kind, name = obj.get("kind", ""), (obj.get("metadata") or {}).get("name", "")
    texts = [f"{f}: {m}" for f, _r, m in causes]
    joined = texts[0] if len(texts) == 1 else "[" + ", ".join(texts) + "]"
    group = SERVED.get(kind, ("",))[0]
    return Rejected(422, "Invalid", f'{qualified_kind(kind)} "{name}" is invalid: {joined}', {
        "name": name, "group": group, "kind": kind,
        "causes": [{"reason": r, "message": m, "field": f} for f, r, m in causes],
    })  # fmt: skip


# --- schema ----------------------------------------------------------------------------------------


@functools.cache
def _definitions() -> referencing.Registry[Any]:
    folder = (
        Path(kubernetes_validate.__file__).parent
        / "kubernetes-json-schema"
        / f"v{SCHEMA_VERSION}-local-strict"
    )
    defs = json.loads((folder / "_definitions.json").read_text())
    registry: referencing.Registry[Any] = referencing.Registry()
    return referencing.Resource.from_contents(defs, referencing.jsonschema.DRAFT202012) @ registry


@functools.cache
def _validator(kind: str, api_version: str) -> jsonschema.protocols.Validator | None:
    folder = (
        Path(kubernetes_validate.__file__).parent
        / "kubernetes-json-schema"
        / f"v{SCHEMA_VERSION}-local-strict"
    )
    version = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
    path = folder / f"{kind.lower()}-{version}.json"
    if not path.exists():
        return None
    schema = json.loads(path.read_text())
    return jsonschema.Draft202012Validator(schema, registry=_definitions())


def _field_path(error: jsonschema.ValidationError) -> str:
    out = ""
    for part in error.absolute_path:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def check_schema(obj: Obj, where: str) -> None:
    """Unknown fields: 400 (apply requests are always strict); a wrong type or a missing required field: 422."""
    validator = _validator(str(obj.get("kind")), str(obj.get("apiVersion")))
    if validator is None:
        raise Rejected(404, "NotFound", "the server could not find the requested resource")
    errors = sorted(validator.iter_errors(obj), key=lambda e: list(map(str, e.absolute_path)))
    unknown = [e for e in errors if e.validator == "additionalProperties"]
    if unknown:
        error = unknown[0]
        extra = sorted(set(error.instance) - set(error.schema.get("properties") or {}))
        fields = ", ".join(f"{_field_path(error)}.{name}" for name in extra)
        raise Rejected(400, "BadRequest", f"failed to create typed patch object ({where}; "
                       f"{obj.get('apiVersion')}, Kind={obj.get('kind')}): {fields}: field not declared in schema")  # fmt: skip
    if errors:
        causes = []
        for error in errors[:5]:
            path = _field_path(error).lstrip(".") or "<root>"
            if error.validator == "required":
                causes.append((path, "FieldValueRequired", f"Required value: {error.message}"))
            else:
                causes.append((path, "FieldValueTypeInvalid", f"Invalid value: {error.message}"))
        raise invalid(obj, causes)


# --- semantics -------------------------------------------------------------------------------------


def _name_causes(kind: str, name: str, where: str = "metadata.name") -> list[tuple[str, str, str]]:
    rule = SERVED.get(kind, ("", True, "subdomain"))[2]
    if rule == "path":  # RBAC names are path segments (ValidatePathSegmentName): no '/', '%', '.' or '..'
        bad = not name or name in (".", "..") or any(c in name for c in "/%")
        return (
            [(where, "FieldValueInvalid", f"Invalid value: \"{name}\": may not contain '/' or '%'")]
            if bad
            else []
        )
    pattern, message, limit = {
        "label": (DNS1123_LABEL, DNS1123_LABEL_MSG, 63),
        "dns1035": (DNS1035_LABEL, DNS1035_LABEL_MSG, 63),
        "subdomain": (DNS1123_SUBDOMAIN, DNS1123_SUBDOMAIN_MSG, 253),
    }[rule]
    if len(name) > limit:
        return [
            (where, "FieldValueInvalid", f'Invalid value: "{name}": must be no more than {limit} characters')
        ]
    if not pattern.match(name):
        return [(where, "FieldValueInvalid", f'Invalid value: "{name}": {message}')]
    return []


def _label_causes(labels: Obj | None, where: str) -> list[tuple[str, str, str]]:
    causes = []
    for key, value in (labels or {}).items():
        prefix, _, name = key.rpartition("/")
        if (
            len(name) > 63
            or not QUALIFIED_NAME.match(name)
            or (prefix and not DNS1123_SUBDOMAIN.match(prefix))
        ):
            causes.append((where, "FieldValueInvalid", f'Invalid value: "{key}": name part must consist of '
                           "alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric "
                           "character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is "
                           "'([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"))  # fmt: skip
        if not isinstance(value, str) or len(value) > 63 or not LABEL_VALUE.match(value):
            causes.append((where, "FieldValueInvalid", f'Invalid value: "{value}": a valid label must be an empty '
                           "string or consist of alphanumeric characters, '-', '_' or '.', and must start and end "
                           "with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used "
                           "for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"))  # fmt: skip
    return causes


_SUFFIXES = {
    "Ki": 2**10,
    "Mi": 2**20,
    "Gi": 2**30,
    "Ti": 2**40,
    "m": 0.001,
    "k": 1e3,
    "M": 1e6,
    "G": 1e9,
    "T": 1e12,
}


def quantity(value: Any) -> float:
    """A resource quantity (`100m`, `64Mi`, `1`) as a number, to compare requests with limits."""
    text = str(value)
    for suffix, factor in sorted(_SUFFIXES.items(), key=lambda kv: -len(kv[0])):
        if text.endswith(suffix):
            return float(text[: -len(suffix)]) * factor
    return float(text)


def _pod_spec_causes(spec: Obj, where: str) -> list[tuple[str, str, str]]:
    causes = []
    names: set[str] = set()
    for kind in ("initContainers", "containers"):
        for i, container in enumerate(spec.get(kind) or []):
            at = f"{where}.{kind}[{i}]"
            name = str(container.get("name", ""))
            if not DNS1123_LABEL.match(name):
                causes.append(
                    (f"{at}.name", "FieldValueInvalid", f'Invalid value: "{name}": {DNS1123_LABEL_MSG}')
                )
            if name in names:
                causes.append((f"{at}.name", "FieldValueDuplicate", f'Duplicate value: "{name}"'))
            names.add(name)
            for j, port in enumerate(container.get("ports") or []):
                port_name = port.get("name")
                if port_name is not None and (
                    len(port_name) > 15
                    or not IANA_SVC_NAME.match(port_name)
                    or not re.search("[a-z]", port_name)
                    or "--" in port_name
                ):
                    causes.append((f"{at}.ports[{j}].name", "FieldValueInvalid",
                                   f'Invalid value: "{port_name}": must be no more than 15 characters, '
                                   "contain only lowercase alphanumerics and '-', and at least one letter"))  # fmt: skip
            resources = container.get("resources") or {}
            for resource, request in ((resources.get("requests")) or {}).items():
                limit = ((resources.get("limits")) or {}).get(resource)
                if limit is not None and quantity(request) > quantity(limit):
                    causes.append((f"{at}.resources.requests", "FieldValueInvalid", f'Invalid value: "{request}": '
                                   f"must be less than or equal to {resource} limit of {limit}"))  # fmt: skip
            for j, env in enumerate(container.get("env") or []):
                if not ENV_NAME.match(str(env.get("name", ""))):
                    causes.append((f"{at}.env[{j}].name", "FieldValueInvalid",
                                   f'Invalid value: "{env.get("name")}": a valid environment variable name must '
                                   "consist of alphabetic characters, digits, '_', '-', or '.', and must not start "
                                   "with a digit"))  # fmt: skip
    if not spec.get("containers"):
        causes.append((f"{where}.containers", "FieldValueRequired", "Required value"))
    return causes


def _selector_matches(selector: Obj, labels: dict[str, str]) -> bool:
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expression in selector.get("matchExpressions") or []:
        key, operator, values = (
            expression.get("key"),
            expression.get("operator"),
            expression.get("values") or [],
        )
        if operator == "In" and labels.get(key) not in values:
            return False
        if operator == "NotIn" and labels.get(key) in values:
            return False
        if operator == "Exists" and key not in labels:
            return False
        if operator == "DoesNotExist" and key in labels:
            return False
    return True


def _restart_policy_causes(kind: str, spec: Obj, old: Obj | None) -> list[tuple[str, str, str]]:
    """A Job's pods may restart on failure or never (an empty policy defaults to Always first); a
    Deployment's always. A Job's selector is generated unless `manualSelector`, and its template
    cannot change (pkg/apis/batch/validation)."""
    template = spec.get("template") or {}
    policy = (template.get("spec") or {}).get("restartPolicy") or "Always"
    where = "spec.template.spec.restartPolicy"
    causes = []
    if kind == "Job":
        if policy not in ("OnFailure", "Never"):
            causes.append((where, "FieldValueNotSupported",
                           f'Unsupported value: "{policy}": supported values: "OnFailure", "Never"'))  # fmt: skip
        uid = (spec.get("selector") or {}).get("matchLabels", {}).get("batch.kubernetes.io/controller-uid")
        if spec.get("manualSelector") is not True and (uid is None or len(spec["selector"]["matchLabels"]) != 1):
            causes.append(("spec.selector", "FieldValueInvalid",
                           f"Invalid value: {json.dumps(spec.get('selector'))}: `selector` not auto-generated"))  # fmt: skip
        if old is not None and (old.get("spec") or {}).get("template") != template:
            causes.append(("spec.template", "FieldValueInvalid", "Invalid value: ...: field is immutable"))
    elif kind in ("Deployment", "ReplicaSet", "DaemonSet", "StatefulSet") and policy != "Always":
        causes.append((where, "FieldValueNotSupported", f'Unsupported value: "{policy}": supported values: "Always"'))
    return causes


def check_semantics(obj: Obj, old: Obj | None) -> None:
    """The API server's validation of the object devloop can trip, and of an update against the old one."""
    kind, meta = str(obj.get("kind")), obj.get("metadata") or {}
    causes = _name_causes(kind, str(meta.get("name", "")))
    causes += _label_causes(meta.get("labels"), "metadata.labels")
    spec = obj.get("spec") or {}
    if kind in ("ConfigMap", "Secret"):
        for section in ("data", "stringData", "binaryData"):
            for key in obj.get(section) or {}:
                if not CONFIG_KEY.match(key) or len(key) > 253:
                    causes.append((f"{section}[{key}]", "FieldValueInvalid", f'Invalid value: "{key}": a valid '
                                   "config key must consist of alphanumeric characters, '-', '_' or '.'"))  # fmt: skip
    if kind == "Secret":
        for key, value in (obj.get("data") or {}).items():
            try:
                base64.b64decode(value, validate=True)
            except (ValueError, TypeError):
                causes.append((f"data[{key}]", "FieldValueInvalid", "Invalid value: illegal base64 data"))
    if kind == "Service":
        ports = spec.get("ports") or []
        for i, port in enumerate(ports):
            if len(ports) > 1 and not port.get("name"):
                causes.append((f"spec.ports[{i}].name", "FieldValueRequired", "Required value"))
            target = port.get("targetPort")
            if isinstance(target, str) and (len(target) > 15 or not IANA_SVC_NAME.match(target)):
                causes.append((f"spec.ports[{i}].targetPort", "FieldValueInvalid", f'Invalid value: "{target}": '
                               "must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)"))  # fmt: skip
    if kind == "Ingress":
        for i, rule in enumerate(spec.get("rules") or []):
            host = str(rule.get("host") or "")
            plain = host.removeprefix("*.")
            if host and (not DNS1123_SUBDOMAIN.match(plain) or "*" in plain):
                causes.append((f"spec.rules[{i}].host", "FieldValueInvalid", f'Invalid value: "{host}": '
                               + DNS1123_SUBDOMAIN_MSG))  # fmt: skip
            for j, path in enumerate(((rule.get("http") or {}).get("paths")) or []):
                where = f"spec.rules[{i}].http.paths[{j}]"
                if not str(path.get("path", "/")).startswith("/"):
                    causes.append((f"{where}.path", "FieldValueInvalid", f'Invalid value: "{path.get("path")}": '
                                   "must be an absolute path"))  # fmt: skip
                if not path.get("pathType"):
                    causes.append(
                        (
                            f"{where}.pathType",
                            "FieldValueRequired",
                            "Required value: pathType must be specified",
                        )
                    )
    if kind == "HorizontalPodAutoscaler":
        low, high = spec.get("minReplicas", 1), spec.get("maxReplicas", 0)
        if isinstance(low, int) and isinstance(high, int) and high < low:
            causes.append(("spec.maxReplicas", "FieldValueInvalid",
                           f"Invalid value: {high}: must be greater than or equal to `minReplicas`"))  # fmt: skip
    if kind in ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"):
        template = spec.get("template") or {}
        template_labels = (template.get("metadata") or {}).get("labels") or {}
        causes += _label_causes(template_labels, "spec.template.metadata.labels")
        causes += _pod_spec_causes(template.get("spec") or {}, "spec.template.spec")
        selector = spec.get("selector")
        if kind != "Job" and not selector:
            causes.append(("spec.selector", "FieldValueRequired", "Required value"))
        elif kind != "Job" and not (selector.get("matchLabels") or selector.get("matchExpressions")):
            causes.append(("spec.selector", "FieldValueInvalid",
                           "Invalid value: \"null\": empty selector is invalid for deployment"))  # fmt: skip
        elif kind != "Job" and not _selector_matches(selector, template_labels):
            shown = (
                "map[string]string{"
                + ", ".join(f'"{k}":"{v}"' for k, v in sorted(template_labels.items()))
                + "}"
            )
            causes.append(("spec.template.metadata.labels", "FieldValueInvalid",
                           f"Invalid value: {shown}: `selector` does not match template `labels`"))  # fmt: skip
        causes += _restart_policy_causes(kind, spec, old)
        if old is not None:
            old_spec = old.get("spec") or {}
            if kind in ("Deployment", "ReplicaSet", "DaemonSet") and old_spec.get("selector") != spec.get(
                "selector"
            ):
                causes.append(("spec.selector", "FieldValueInvalid",
                               f"Invalid value: {json.dumps(spec.get('selector'))}: field is immutable"))  # fmt: skip
            if kind == "StatefulSet":
                changed = {k for k in set(spec) | set(old_spec) if k not in STATEFULSET_MUTABLE
                           and spec.get(k) != old_spec.get(k)}  # fmt: skip
                if changed:
                    causes.append(("spec", "FieldValueForbidden", "Forbidden: updates to statefulset spec for "
                                   "fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', "
                                   "'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden"))  # fmt: skip
    if kind == "Pod":
        causes += _pod_spec_causes(spec, "spec")
    if causes:
        raise invalid(obj, causes)


# --- server-side apply: field ownership ------------------------------------------------------------

MERGE_KEYS = {
    "containers": "name", "initContainers": "name", "ephemeralContainers": "name", "env": "name",
    "volumes": "name", "imagePullSecrets": "name", "volumeMounts": "mountPath", "conditions": "type",
    "volumeClaimTemplates": None,  # atomic in the schema as devloop uses it
}  # fmt: skip


def _merge_key(list_name: str, items: list[Any], parent: Path_) -> str | None:
    if not items or not all(isinstance(i, dict) for i in items):
        return None
    if list_name == "ports":
        key = "containerPort" if "containers" in str(parent) else "port"
        return key if all(key in i for i in items) else None
    key = MERGE_KEYS.get(list_name)
    return key if key and all(key in i for i in items) else None


def leaves(obj: Any, path: Path_ = ()) -> dict[Path_, Any]:
    """Every owned leaf of an applied object: scalars, atomic lists, empty maps; keyed list items by key."""
    out: dict[Path_, Any] = {}
    if isinstance(obj, dict) and obj:
        for key, value in obj.items():
            if path == () and key in ("apiVersion", "kind", "status"):
                continue
            if path == ("metadata",) and key in ("name", "namespace"):
                continue
            out.update(leaves(value, (*path, key)))
        return out
    if isinstance(obj, list) and path:
        merge_key = _merge_key(path[-1], obj, path[:-1])
        if merge_key is not None:
            for item in obj:
                item_path = (*path, f"k:{merge_key}={item[merge_key]}")
                out[(*item_path, merge_key)] = item[merge_key]
                out.update(leaves({k: v for k, v in item.items() if k != merge_key}, item_path))
            return out
    out[path] = obj
    return out


def _step(node: Any, part: str, create: bool) -> Any:
    if part.startswith("k:") and isinstance(node, list):
        key, _, value = part[2:].partition("=")
        for item in node:
            if isinstance(item, dict) and str(item.get(key)) == value:
                return item
        if not create:
            return None
        item = {key: _typed(value)}
        node.append(item)
        return item
    if not isinstance(node, dict):
        return None
    if part not in node and create:
        node[part] = {}
    return node.get(part)


def _typed(value: str) -> Any:
    return int(value) if value.isdigit() else value


def _set(obj: Obj, path: Path_, value: Any) -> None:
    node: Any = obj
    for i, part in enumerate(path[:-1]):
        nxt = path[i + 1]
        if isinstance(node, dict) and part not in node:
            node[part] = [] if nxt.startswith("k:") else {}
        node = _step(node, part, True)
    last = path[-1]
    if last.startswith("k:"):
        _step(node, last, True)
    elif isinstance(node, dict):
        node[last] = copy.deepcopy(value)


def _remove(obj: Obj, path: Path_) -> None:
    node: Any = obj
    trail: list[tuple[Any, str]] = []
    for part in path[:-1]:
        trail.append((node, part))
        node = _step(node, part, False)
        if node is None:
            return
    last = path[-1]
    if isinstance(node, dict):
        node.pop(last, None)
    # Keyed list items whose last owned field went away, and maps left empty, go too.
    for parent, part in reversed(trail):
        child = _step(parent, part, False)
        if part.startswith("k:") and isinstance(child, dict):
            key = part[2:].partition("=")[0]
            if set(child) <= {key}:
                parent.remove(child)
        elif isinstance(child, dict | list) and not child and isinstance(parent, dict):
            parent.pop(part, None)


def fields_v1(paths: set[Path_]) -> Obj:
    """A manager's owned paths in the API's FieldsV1 shape (`f:` fields, `k:` list items)."""
    root: Obj = {}
    for path in sorted(paths):
        node = root
        for part in path:
            if part.startswith("k:"):
                key, _, value = part[2:].partition("=")
                part_name = "k:" + json.dumps({key: _typed(value)}, separators=(",", ":"))
            else:
                part_name = f"f:{part}"
            node = node.setdefault(part_name, {})
    return root


@dataclass
class Ownership:
    """Who owns which leaf of one object: manager -> paths."""

    managers: dict[str, set[Path_]] = field(default_factory=dict)

    def apply(self, live: Obj | None, applied: Obj, manager: str, force: bool) -> Obj:
        """The object after `manager` applies `applied` (conflicts: 409 unless `force`)."""
        wanted = leaves(applied)
        result = copy.deepcopy(live) if live is not None else {}
        current = leaves(result) if live is not None else {}
        conflicts = []
        for path, value in wanted.items():
            for other, owned in self.managers.items():
                if other != manager and path in owned and current.get(path) != value:
                    conflicts.append((other, path))
        if conflicts and not force:
            text = "; ".join(f'conflict with "{o}": .{".".join(p)}' for o, p in conflicts[:5])
            raise Rejected(409, "Conflict", f"Apply failed with {len(conflicts)} conflict(s): {text}",
                           {"causes": [{"reason": "FieldManagerConflict", "message": f'conflict with "{o}"',
                                        "field": "." + ".".join(p)} for o, p in conflicts]})  # fmt: skip
        for other, path in conflicts:
            self.managers[other].discard(path)
        before = self.managers.get(manager, set())
        others = set().union(*(p for m, p in self.managers.items() if m != manager))

        # Deepest first, and a keyed item's key after its other fields (it is how the item is found).
        def order(path: Path_) -> tuple[int, bool]:
            keyed = len(path) > 1 and path[-2].startswith("k:") and path[-2][2:].partition("=")[0] == path[-1]
            return -len(path), keyed

        for path in sorted(before - set(wanted) - others, key=order):
            _remove(result, path)
        for path, value in wanted.items():
            _set(result, path, value)
        for identity in ("apiVersion", "kind"):
            result[identity] = applied.get(identity)
        meta = result.setdefault("metadata", {})
        for identity in ("name", "namespace"):
            if (applied.get("metadata") or {}).get(identity):
                meta[identity] = applied["metadata"][identity]
        self.managers[manager] = set(wanted)
        return result

    def update(self, before: Obj, after: Obj, manager: str) -> None:
        """A non-apply write (a patch): the manager owns the leaves it changed."""
        old, new = leaves(before), leaves(after)
        changed = {p for p, v in new.items() if old.get(p) != v}
        for owned in self.managers.values():
            owned -= changed
        self.managers.setdefault(manager, set()).update(changed)

    def managed_fields(self, api_version: str, time: str, appliers: set[str]) -> list[Obj]:
        return [{"manager": m, "operation": "Apply" if m in appliers else "Update", "apiVersion": api_version,
                 "time": time, "fieldsType": "FieldsV1", "fieldsV1": fields_v1(p)}
                for m, p in sorted(self.managers.items()) if p]  # fmt: skip


def fold_string_data(obj: Obj) -> None:
    """A Secret's write-only `stringData` merged into `data` (base64), as the API server stores it."""
    if obj.get("kind") != "Secret" or "stringData" not in obj:
        return
    data = obj.setdefault("data", {})
    for key, value in (obj.pop("stringData") or {}).items():
        data[key] = base64.b64encode(str(value).encode()).decode()
