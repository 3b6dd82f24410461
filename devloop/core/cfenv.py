"""The environment Cloud Foundry gives a running app instance, with plausible local values.

CF apps read `VCAP_APPLICATION`, `PORT`, `MEMORY_LIMIT` and the `CF_INSTANCE_*`
variables (cf docs, "Cloud Foundry environment variables"); an app that finds
them missing often fails (the cf Node.js sample answers 500 without
`VCAP_APPLICATION.uris`). Both providers build that environment here, so a
container and a pod see the same values. Ids are UUIDs derived from the project
and app names, stable across runs; the org is `devloop`, the space the project.
Pure: no I/O, no clock (a start time is passed in).
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from devloop.core.processes import WEB
from devloop.core.routes import routes_for
from devloop.core.spec import AppSpec

ORG_NAME = "devloop"
CF_API = "http://api.devloop.localhost"  # no Cloud Controller runs locally: a name that is clearly local
DEFAULT_MEMORY_MB = 1024  # cf's default memory and disk quotas when the manifest sets none
DEFAULT_DISK_MB = 1024
FDS = 16384  # cf's default file descriptor limit
APP_HOST = "0.0.0.0"  # what Diego's launcher puts in VCAP_APPLICATION.host and VCAP_APP_HOST

_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://devloop.dev/cf")

# Kubernetes expands `$(NAME)` in an env value from the variables defined before it.
POD_GUID = "$(CF_INSTANCE_GUID)"
POD_IP = "$(CF_INSTANCE_IP)"
_GUID_MARK = "@devloop-instance-guid@"  # stands for POD_GUID until the values are escaped


def _guid(*parts: str) -> str:
    return str(uuid.uuid5(_NAMESPACE, "\x00".join(parts)))


def application_id(project: str, app: str) -> str:
    """The app's GUID: the same for the same project and (DNS-safe) app name, on every run."""
    return _guid("app", project, app)


def organization_id() -> str:
    return _guid("org", ORG_NAME)


def space_id(project: str) -> str:
    return _guid("space", project)


def process_id(project: str, app: str, process: str) -> str:
    """As in cf, the web process shares the app's GUID; another process type has its own."""
    app_id = application_id(project, app)
    return app_id if process == WEB else _guid("process", app_id, process)


def version_id(project: str, app: str, image: str) -> str:
    """`application_version`: new for each build the app runs (an image name is a content tag)."""
    return _guid("version", application_id(project, app), image)


def instance_guid(project: str, app: str, process: str, generation: str, index: int) -> str:
    """`CF_INSTANCE_GUID` of one instance of one deploy generation (a restart gets a new one)."""
    return _guid("instance", process_id(project, app, process), generation, str(index))


def uris(app: AppSpec, router_port: int) -> list[str]:
    """The app's URIs as the router serves them: `HOST[:PORT][/PATH]`, no scheme (as cf writes
    them), then its internal routes as written. A process other than web has none."""
    port = "" if router_port == 80 else f":{router_port}"
    served = [f"{r.host}{port}{r.path}" for r in routes_for(app)]
    return [*served, *(r for r in app.internal_routes if r not in served)]


def memory_mb(app: AppSpec) -> int:
    return app.memory_mb or DEFAULT_MEMORY_MB


def memory_limit(app: AppSpec) -> str:
    """`MEMORY_LIMIT` as Diego sets it: megabytes with a lower-case `m` (`256m`)."""
    return f"{memory_mb(app)}m"


def _started(started_at: float) -> dict[str, Any]:
    # The DEA-era start fields, kept for apps that still read them (Diego leaves them out).
    text = time.strftime("%Y-%m-%d %H:%M:%S +0000", time.gmtime(started_at))
    stamp = int(started_at)
    return {"start": text, "started_at": text, "started_at_timestamp": stamp, "state_timestamp": stamp}


def vcap_application(
    app: AppSpec,
    *,
    project: str,
    process: str,
    index: int,
    instance_id: str,
    image: str,
    app_uris: list[str],
    started_at: float | None = None,
    cf_api: str | None = CF_API,
) -> dict[str, Any]:
    """`VCAP_APPLICATION` for one instance of `process` (`app` is that process's view).

    Every attribute the cf docs list, with the instance fields Diego's launcher adds (`host`,
    `instance_id`, `instance_index`, `port`). `cf_api=None` leaves out the API location (for
    files meant for another cluster); `started_at=None` leaves out the start-time fields.
    """
    version = version_id(project, app.name, image)
    vcap: dict[str, Any] = {
        "application_id": application_id(project, app.name),
        "application_name": app.label,
        "application_uris": app_uris,
        "application_version": version,
        "host": APP_HOST,
        "instance_id": instance_id,
        "instance_index": index,
        "limits": {"disk": app.disk_mb or DEFAULT_DISK_MB, "fds": FDS, "mem": memory_mb(app)},
        "name": app.label,
        "organization_id": organization_id(),
        "organization_name": ORG_NAME,
        "port": app.port,
        "process_id": process_id(project, app.name, process),
        "process_type": process,
        "space_id": space_id(project),
        "space_name": project,
        "uris": list(app_uris),
        "users": None,
        "version": version,
    }
    if cf_api is not None:
        vcap["cf_api"] = cf_api
    if started_at is not None:
        vcap.update(_started(started_at))
    return dict(sorted(vcap.items()))


def unbound_services(app: AppSpec) -> dict[str, str]:
    """`VCAP_SERVICES={}` for an app bound to nothing, as cf sets it (apps parse it without
    looking first). Empty when the app has bindings, which bring their own, or sets it itself."""
    if app.services or any(k == "VCAP_SERVICES" for k, _ in (*app.env, *app.secret_env)):
        return {}
    return {"VCAP_SERVICES": "{}"}


def _common(app: AppSpec, index: str, guid: str) -> dict[str, str]:
    port = str(app.port)
    return {
        "PORT": port,
        "VCAP_APP_PORT": port,  # the deprecated name cf still sets
        "VCAP_APP_HOST": APP_HOST,
        "MEMORY_LIMIT": memory_limit(app),
        "CF_INSTANCE_INDEX": index,
        "INSTANCE_INDEX": index,
        "CF_INSTANCE_GUID": guid,
        "INSTANCE_GUID": guid,
    }


def instance_env(
    app: AppSpec,
    *,
    project: str,
    process: str,
    index: int,
    generation: str,
    image: str,
    router_port: int,
    ip: str,
    started_at: float,
) -> dict[str, str]:
    """Every system variable of one instance whose address (`ip`) is known when it is created.

    `CF_INSTANCE_PORT` is the instance's own `PORT`: the host-side port of a local instance is
    chosen when it starts, after its environment is fixed. Secrets (`VCAP_SERVICES`) are not
    here: they come with the app's bindings.
    """
    guid = instance_guid(project, app.name, process, generation, index)
    vcap = vcap_application(
        app, project=project, process=process, index=index, instance_id=guid, image=image,
        app_uris=uris(app, router_port), started_at=started_at,
    )  # fmt: skip
    return {
        **_common(app, str(index), guid),
        "CF_INSTANCE_IP": ip,
        "CF_INSTANCE_INTERNAL_IP": ip,
        "CF_INSTANCE_PORT": str(app.port),
        "CF_INSTANCE_ADDR": f"{ip}:{app.port}",
        "CF_INSTANCE_PORTS": _ports(app.port),
        "VCAP_APPLICATION": json.dumps(vcap, ensure_ascii=False),
    }


def _ports(port: int) -> str:
    return json.dumps([{"external": port, "internal": port}], separators=(",", ":"))


def _escape(value: str) -> str:
    """A literal `$(` survives Kubernetes' variable expansion only as `$$(`."""
    return value.replace("$(", "$$(")


def pod_env(
    app: AppSpec,
    *,
    project: str,
    process: str,
    image: str,
    app_uris: list[str],
    cf_api: str | None = CF_API,
) -> list[dict[str, Any]]:
    """The same variables as a container's `env` list in a pod template.

    What only the pod knows comes from the downward API: `CF_INSTANCE_GUID` is the pod's uid,
    `CF_INSTANCE_IP`/`CF_INSTANCE_INTERNAL_IP` its IP, and `VCAP_APPLICATION.instance_id` and
    `CF_INSTANCE_ADDR` refer to them with `$(...)`. A Deployment's pods have no ordinal, so the
    instance index is 0 in each; no start time either (it would roll the pods on every apply).
    """
    vcap = vcap_application(
        app, project=project, process=process, index=0, instance_id=_GUID_MARK, image=image,
        app_uris=app_uris, cf_api=cf_api,
    )  # fmt: skip
    vcap_text = _escape(json.dumps(vcap, ensure_ascii=False)).replace(_GUID_MARK, POD_GUID)
    common = {k: _escape(v).replace(_GUID_MARK, POD_GUID) for k, v in _common(app, "0", _GUID_MARK).items()}
    field = {
        "CF_INSTANCE_GUID": "metadata.uid",
        "CF_INSTANCE_IP": "status.podIP",
        "CF_INSTANCE_INTERNAL_IP": "status.podIP",
    }
    env: list[dict[str, Any]] = [
        {"name": name, "valueFrom": {"fieldRef": {"fieldPath": path}}} for name, path in field.items()
    ]
    env += [{"name": k, "value": v} for k, v in common.items() if k != "CF_INSTANCE_GUID"]
    env += [
        {"name": "CF_INSTANCE_PORT", "value": str(app.port)},
        {"name": "CF_INSTANCE_ADDR", "value": f"{POD_IP}:{app.port}"},
        {"name": "CF_INSTANCE_PORTS", "value": _escape(_ports(app.port))},
        {"name": "VCAP_APPLICATION", "value": vcap_text},
    ]
    return env
