"""The config reference (docs/config-reference.md), generated from the models so it cannot drift."""

from __future__ import annotations

import typing
from typing import Any

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from devloop.config import cfmanifest, cfschema, schema
from devloop.config.cfcompat import V6_EXPLAIN

DESCRIPTIONS: dict[str, str] = {
    "DevloopConfig.version": "Format version of this file.",
    "DevloopConfig.provider": "Where apps run: a kind cluster, or containers on the local Docker engine.",
    "DevloopConfig.cluster": "Name of the kind cluster devloop creates or reuses.",
    "DevloopConfig.context": "Use this kubeconfig context instead of creating a cluster.",
    "DevloopConfig.registry": "HOST[:PORT][/PREFIX] to push images to (your `docker login` credentials); "
    "pods run them by digest.",
    "DevloopConfig.namespace": "The Kubernetes namespace (default: `devloop-<user>-<project>` on a shared "
    "context, the project's own on a local one).",
    "DevloopConfig.router_port": "The router's shared port on 127.0.0.1 (the next free one if taken).",
    "DevloopConfig.keep_images": "Content tags kept per app in each image store (engine, registry, kind nodes); older ones are pruned after each deploy and by `devloop prune`.",
    "DevloopConfig.apps": "The apps of this project.",
    "AppConfig.name": "App name: lowercase letters, digits and '-', at most 50 characters.",
    "AppConfig.path": "Source folder, relative to this file; also the build context.",
    "AppConfig.dockerfile": "Dockerfile to build with, relative to `path` (default: `Dockerfile` if present).",
    "AppConfig.language": "Generate a Dockerfile for this language instead of detecting it.",
    "AppConfig.target": "Build stage to stop at (`docker build --target`).",
    "AppConfig.build_args": "Build arguments (visible in the image history: never secrets).",
    "AppConfig.image": "A prebuilt image to run instead of building one.",
    "AppConfig.pull": "When `image` is pulled: when missing here, before every start, or never.",
    "AppConfig.instances": "Number of instances (cf `instances`).",
    "AppConfig.memory": "Memory per instance, e.g. `256M` or `1G` (cf `memory`); the container's limit.",
    "AppConfig.disk_quota": "Disk per instance (cf `disk_quota`); recorded.",
    "AppConfig.command": "Start command, run by `/bin/sh -c` (cf `command`).",
    "AppConfig.env": "Environment variables (cf `env`).",
    "AppConfig.env_file": "A `.env` file whose values are secrets: never in images, logs or exports.",
    "AppConfig.port": "Port the app listens on; also passed as `$PORT`.",
    "AppConfig.route": "A route (host[:port][/path]); served as http://HOST-LABEL.localhost:ROUTER_PORT/path.",
    "AppConfig.routes": "Routes like `route` (cf `routes`); a route's port gives the app that port too.",
    "AppConfig.host_port": "Also serve this app alone on http://127.0.0.1:HOST_PORT (any Host header).",
    "AppConfig.no_route": "No URL for this app, e.g. a worker (cf `no-route`).",
    "AppConfig.debug": "Run the web instances under their runtime's debugger (`wait`: paused until one attaches); never exported.",
    "AppConfig.random_route": "Recorded (cf `random-route`); devloop gives a stable local route.",
    "AppConfig.health_check": "How devloop decides an instance is healthy.",
    "AppConfig.sync": "Files copied into running instances on save instead of a rebuild.",
    "AppConfig.on_sync": "What runs after a sync: a signal to the app or a command.",
    "AppConfig.depends_on": "Apps that must be running and healthy before this one deploys.",
    "AppConfig.manifests": "Your own Kubernetes YAML or kustomize folder for this app (kind provider).",
    "AppConfig.services": "Services bound to the app (cf `services`): VCAP_SERVICES and DATABASE_URL etc.",
    "AppConfig.processes": "Process types run from the same image (cf `processes`).",
    "AppConfig.sidecars": "Extra processes beside the app's (cf `sidecars`).",
    "AppConfig.tasks": "One-off processes (cf `run-task`): `devloop task APP --name NAME` runs one.",
    "TaskConfig.name": "Task name: lowercase letters, digits and '-', at most 40 characters.",
    "TaskConfig.command": "Its command, run by `/bin/sh -c` in the app's image with the app's env and bindings.",
    "TaskConfig.before_start": "Run it before each new version's instances start (migrations); "
    "they start only if it succeeds.",
    "TaskConfig.memory": "Its memory limit (default: the app's).",
    "HealthCheckConfig.type": "`port`: accepts connections; `http`: GET answers 2xx/3xx; `process`: keeps running.",
    "HealthCheckConfig.endpoint": "Path for the http check (cf `health-check-http-endpoint`).",
    "HealthCheckConfig.timeout": "Seconds an instance may take to become healthy (cf `timeout`).",
    "HealthCheckConfig.invocation_timeout": "Seconds one check may take.",
    "HealthCheckConfig.interval": "Seconds between checks.",
    "SyncRuleConfig.src": "Glob relative to the app folder (`*` within a folder, `**` across).",
    "SyncRuleConfig.dest": "Absolute folder in the container.",
    "OnSyncConfig.signal": "Signal sent to the app after a sync, e.g. `HUP`.",
    "OnSyncConfig.run": "Command run in each instance after a sync.",
    "ProcessConfig.type": "Process type, e.g. `worker`.",
    "ProcessConfig.command": "Its start command.",
    "ProcessConfig.instances": "Its number of instances.",
    "ProcessConfig.memory": "Its memory per instance.",
    "ProcessConfig.health_check": "Its health check.",
    "SidecarConfig.name": "Sidecar name.",
    "SidecarConfig.command": "Its command.",
    "SidecarConfig.process_types": "Process types it runs beside.",
    "SidecarConfig.memory": "Its memory.",
    "DevloopConfig.services": "Backing services run locally (like `cf create-service`); apps bind them by name.",
    "ServiceConfig.name": "Service name: apps list it in their `services:`; also its host name for them.",
    "ServiceConfig.type": "`postgres`, `mysql` (MariaDB), `redis` or `rabbitmq` (or an alias: `postgresql`, ...).",
    "ServiceConfig.plan": "Shown as the plan in VCAP_SERVICES.",
    "ServiceConfig.port": "Also publish the service on 127.0.0.1:PORT, for local tools.",
    "ServiceConfig.timeout": "Seconds it may take to become ready; its bound apps wait that long.",
    "ServiceConfig.image": "Another image of the same kind (default: the official one, e.g. `postgres:16`).",
    "ServiceConfig.pull": "When the service's image is pulled: when missing here, before every start, or never.",
}

MODELS: list[type[BaseModel]] = [
    schema.DevloopConfig, schema.AppConfig, schema.HealthCheckConfig, schema.SyncRuleConfig,
    schema.OnSyncConfig, schema.ProcessConfig, schema.SidecarConfig, schema.TaskConfig, schema.ServiceConfig,
]  # fmt: skip

README_START = "<!-- cf-attributes: generated by `python -m devloop.config.reference --readme` -->"
README_END = "<!-- /cf-attributes -->"


def cf_attributes() -> list[tuple[str, str, str]]:
    """(attribute, honoured | mapped | noticed, what devloop does), from the loader's own tables."""
    rows = [(k, "honoured", v) for k, v in cfmanifest.HONOURED.items()]
    rows += [(k, "mapped", v) for k, v in cfmanifest.MAPPED.items()]
    rows += [(k, "noticed", v) for k, v in cfmanifest.NOT_HONOURED.items()]
    rows.append(
        ("any other key", "noticed", "ignored, as cf ignores it (with a suggestion when one is close)")
    )
    return rows


def unlisted_cf_attributes() -> list[str]:
    """cf attributes the schema or the v6 mapping knows that no table above describes."""
    listed = {row[0] for row in cf_attributes()}
    known = {info.alias or name for name, info in cfschema.CfApp.model_fields.items()}
    known |= {"version", *V6_EXPLAIN}
    return sorted(known - listed)


def render_cf_attributes() -> str:
    lines = ["| cf attribute | devloop | what it does locally |", "|---|---|---|"]
    lines += [f"| `{key}` | {treatment} | {what} |" for key, treatment, what in cf_attributes()]
    return "\n".join(lines) + "\n"


def readme_with_cf_attributes(readme: str) -> str:
    """The README with its generated cf attribute table replaced by the current one."""
    head, found, rest = readme.partition(README_START)
    if not found:
        raise ValueError(f"README has no {README_START!r} marker")
    _, found_end, tail = rest.partition(README_END)
    if not found_end:
        raise ValueError(f"README has no {README_END!r} marker")
    return f"{head}{README_START}\n{render_cf_attributes()}{README_END}{tail}"


def _type(annotation: Any) -> str:
    text = str(annotation).replace("typing.", "").replace("devloop.config.schema.", "")
    origin = typing.get_origin(annotation)
    if origin is typing.Literal:
        return " \\| ".join(f"`{a}`" for a in typing.get_args(annotation))
    return f"`{text.replace('|', '/')}`".replace("<class '", "").replace("'>", "")


def _default(info: Any) -> str:
    if info.default is not PydanticUndefined:
        return "" if info.default is None else f"`{info.default}`"
    if info.default_factory is not None:
        value = info.default_factory()
        return f"`{value}`" if value not in ({}, []) else "empty"
    return "**required**"


def undocumented() -> list[str]:
    return [
        f"{m.__name__}.{f}" for m in MODELS for f in m.model_fields if f"{m.__name__}.{f}" not in DESCRIPTIONS
    ]


def render() -> str:
    out = [
        "# Configuration reference",
        "",
        "Generated from devloop's app model by `python -m devloop.config.reference > docs/config-reference.md`;",
        "a test fails when this file and the model differ.",
        "",
        "devloop reads `devloop.yaml` (below) or a Cloud Foundry `manifest.yml` as it is.",
        "Both load into the same app model. Unknown keys are errors, with a suggestion.",
        "",
    ]
    for model in MODELS:
        out += [f"## {model.__name__.removesuffix('Config') or model.__name__}", "", "| key | type | default | meaning |",
                "|---|---|---|---|"]  # fmt: skip
        for name, info in model.model_fields.items():
            description = DESCRIPTIONS.get(f"{model.__name__}.{name}", "")
            out.append(
                f"| `{info.alias or name}` | {_type(info.annotation)} | {_default(info)} | {description} |"
            )
        out.append("")
    out += [
        "## Cloud Foundry manifest attributes",
        "",
        "What devloop does with each attribute of a cf `manifest.yml` (cf CLI v6, v7 and v8 syntax).",
        "_honoured_: as cf does; _mapped_: turned into what it means, with one notice;",
        "_noticed_: recorded, with one notice per attribute saying why it has no local effect.",
        "",
        render_cf_attributes(),
        "`((name))` placeholders take values from `--vars-file FILE` and `--var NAME=VALUE`, as in `cf push`.",
        "",
    ]
    return "\n".join(out)


if __name__ == "__main__":
    import sys
    from pathlib import Path

    if sys.argv[1:] == ["--readme"]:
        readme = Path(__file__).resolve().parents[2] / "README.md"
        readme.write_text(readme_with_cf_attributes(readme.read_text(encoding="utf-8")), encoding="utf-8")
    else:
        print(render(), end="")
