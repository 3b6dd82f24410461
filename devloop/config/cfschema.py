"""The shape of a Cloud Foundry `manifest.yml` (app manifest v1, cf CLI v7/v8).

Every attribute the cf CLI accepts is known here, so a real manifest loads as it
is; those devloop cannot honour locally are turned into notices by `cfmanifest`,
not dropped silently. Keys are kebab-case except cf's own `disk_quota` and
`process_types`.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from devloop.config.schema import Scalar, Size, _check_size


def _kebab(name: str) -> str:
    return name.replace("_", "-")


class CfModel(BaseModel):
    model_config = ConfigDict(
        extra="forbid", strict=True, frozen=True, alias_generator=_kebab, populate_by_name=False
    )


HealthType = Literal["port", "process", "http", "none"]


class CfRoute(CfModel):
    route: str = Field(min_length=1)
    protocol: Literal["http1", "http2", "tcp"] | None = None
    options: dict[str, Any] | None = None


class CfDocker(CfModel):
    image: str = Field(min_length=1)
    username: str | None = None


class CfServiceBinding(CfModel):
    name: str
    parameters: dict[str, Any] | None = None
    binding_name: str | None = Field(default=None, alias="binding_name")


class CfProcess(CfModel):
    type: str = Field(min_length=1)
    command: str | None = None
    disk_quota: Size | None = Field(default=None, alias="disk_quota")
    health_check_type: HealthType | None = None
    health_check_http_endpoint: str | None = None
    health_check_invocation_timeout: int | None = Field(default=None, gt=0)
    health_check_interval: int | None = Field(default=None, gt=0)
    readiness_health_check_type: HealthType | None = None
    readiness_health_check_http_endpoint: str | None = None
    readiness_health_check_invocation_timeout: int | None = None
    readiness_health_check_interval: int | None = None
    instances: int | None = Field(default=None, ge=0)
    memory: Size | None = None
    timeout: int | None = Field(default=None, gt=0)
    log_rate_limit_per_second: Size | None = None

    _sizes = field_validator("memory", "disk_quota")(_check_size)


class CfSidecar(CfModel):
    name: str
    command: str
    process_types: list[str] = Field(alias="process_types", min_length=1)
    memory: Size | None = None

    _size = field_validator("memory")(_check_size)


class CfMetadata(CfModel):
    labels: dict[str, Scalar | None] | None = None
    annotations: dict[str, Scalar | None] | None = None


def _cf_name(name: str) -> str:
    """cf takes any app name (mixed case, spaces, `_`, non-ASCII); devloop derives a DNS-safe one."""
    if not name.strip():
        raise ValueError("an app name cannot be empty")
    if any(ord(ch) < 32 for ch in name):
        raise ValueError(f"app name {name!r} contains a control character")
    return name


class CfApp(CfModel):
    name: str
    path: str | None = None
    instances: int | None = Field(default=None, ge=0)
    memory: Size | None = None
    disk_quota: Size | None = Field(default=None, alias="disk_quota")
    command: str | None = None
    env: dict[str, Scalar | None] | None = None
    routes: list[CfRoute] | None = None
    random_route: bool | None = None
    no_route: bool | None = None
    default_route: bool | None = None
    health_check_type: HealthType | None = None
    health_check_http_endpoint: str | None = None
    health_check_invocation_timeout: int | None = Field(default=None, gt=0)
    health_check_interval: int | None = Field(default=None, gt=0)
    readiness_health_check_type: HealthType | None = None
    readiness_health_check_http_endpoint: str | None = None
    readiness_health_check_invocation_timeout: int | None = None
    readiness_health_check_interval: int | None = None
    timeout: int | None = Field(default=None, gt=0, le=600)
    docker: CfDocker | None = None
    buildpacks: list[str] | None = None
    buildpack: str | None = None
    stack: str | None = None
    lifecycle: Literal["buildpack", "docker", "cnb"] | None = None
    cnb_credentials: dict[str, Any] | None = None
    services: list[str | CfServiceBinding] | None = None
    processes: list[CfProcess] | None = None
    sidecars: list[CfSidecar] | None = None
    metadata: CfMetadata | None = None
    log_rate_limit_per_second: Size | None = None
    features: dict[str, bool] | None = None

    _names = field_validator("name")(_cf_name)
    _sizes = field_validator("memory", "disk_quota")(_check_size)


class CfManifest(CfModel):
    version: Literal[1] | None = None
    applications: list[CfApp] = Field(min_length=1)
