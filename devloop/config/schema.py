"""The shape of `devloop.yaml`, validated with pydantic.

pydantic gives typed, located errors for free (every error carries the path of
the bad value, which `errors_map` turns into file:line:col); `extra="forbid"`
makes unknown keys errors, with a "did you mean" added by `errors_map`.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from devloop.core.services import exact_type, known_types
from devloop.core.shared_cluster import check_namespace, parse_registry
from devloop.core.spec import check_app_name, parse_memory_mb
from devloop.core.tasks import check_task_name

Scalar = str | int | float | bool
Size = int | str


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


def _check_size(value: Size | None) -> Size | None:
    if value is not None:
        parse_memory_mb(value)
    return value


class HealthCheckConfig(StrictModel):
    type: Literal["port", "process", "http"] = "port"
    endpoint: str = "/"
    timeout: int = Field(default=60, gt=0, le=600)
    invocation_timeout: int = Field(default=1, gt=0, le=60)
    interval: int = Field(default=2, gt=0, le=300)

    @field_validator("endpoint")
    @classmethod
    def _absolute(cls, value: str) -> str:
        if not value.startswith("/"):
            raise ValueError(f"endpoint {value!r} must start with '/'")
        return value


class SyncRuleConfig(StrictModel):
    src: str = Field(min_length=1)
    dest: str = Field(min_length=1)

    @field_validator("dest")
    @classmethod
    def _absolute(cls, value: str) -> str:
        if not value.startswith("/"):
            raise ValueError(f"dest {value!r} must be an absolute path in the container")
        return value

    @field_validator("src")
    @classmethod
    def _relative(cls, value: str) -> str:
        if value.startswith("/") or ".." in value.split("/"):
            raise ValueError(f"src {value!r} must be a path inside the app folder")
        return value


class OnSyncConfig(StrictModel):
    signal: str | None = None
    run: str | None = None

    @model_validator(mode="after")
    def _one_of(self) -> OnSyncConfig:
        if (self.signal is None) == (self.run is None):
            raise ValueError("on_sync takes exactly one of 'signal' or 'run'")
        return self


class ProcessConfig(StrictModel):
    type: str = Field(min_length=1)
    command: str | None = None
    instances: int = Field(default=1, ge=0, le=100)
    memory: Size | None = None
    health_check: HealthCheckConfig | None = None

    _size = field_validator("memory")(_check_size)


class SidecarConfig(StrictModel):
    name: str = Field(min_length=1)
    command: str = Field(min_length=1)
    process_types: list[str] = Field(default_factory=lambda: ["web"])
    memory: Size | None = None

    _size = field_validator("memory")(_check_size)


class TaskConfig(StrictModel):
    name: str
    command: str = Field(min_length=1)
    before_start: bool = False
    memory: Size | None = None

    _names = field_validator("name")(check_task_name)
    _size = field_validator("memory")(_check_size)


class AppConfig(StrictModel):
    name: str
    path: str = "."
    dockerfile: str | None = None
    language: Literal["python", "node", "go", "static"] | None = None
    target: str | None = None
    build_args: dict[str, Scalar] = Field(default_factory=dict)
    image: str | None = None
    pull: Literal["missing", "always", "never"] = "missing"
    instances: int = Field(default=1, ge=0, le=100)
    memory: Size | None = None
    disk_quota: Size | None = None
    command: str | None = None
    env: dict[str, Scalar] = Field(default_factory=dict)
    env_file: str | None = None
    port: int = Field(default=8080, ge=1, le=65535)
    route: str | None = None
    routes: list[str] = Field(default_factory=list)
    host_port: int | None = Field(default=None, ge=1, le=65535)
    no_route: bool = False
    random_route: bool = False
    health_check: HealthCheckConfig = Field(default_factory=HealthCheckConfig)
    sync: list[SyncRuleConfig] = Field(default_factory=list)
    on_sync: OnSyncConfig | None = None
    depends_on: list[str] = Field(default_factory=list)
    manifests: str | None = None
    services: list[str] = Field(default_factory=list)
    processes: list[ProcessConfig] = Field(default_factory=list)
    sidecars: list[SidecarConfig] = Field(default_factory=list)
    tasks: list[TaskConfig] = Field(default_factory=list)
    debug: bool | Literal["wait"] = False

    _names = field_validator("name")(check_app_name)
    _sizes = field_validator("memory", "disk_quota")(_check_size)

    @model_validator(mode="after")
    def _consistent(self) -> AppConfig:
        if self.image and (self.dockerfile or self.language):
            raise ValueError("set either 'image' (a prebuilt image) or a build, not both")
        return self


class ServiceConfig(StrictModel):
    name: str
    type: str
    plan: str = "local"
    port: int | None = Field(default=None, ge=1, le=65535)
    timeout: int = Field(default=90, ge=1, le=3600)
    image: str | None = None
    pull: Literal["missing", "always", "never"] = "missing"

    _names = field_validator("name")(check_app_name)

    @field_validator("type")
    @classmethod
    def _known_type(cls, value: str) -> str:
        if exact_type(value) is None:
            raise ValueError(f"unknown service type {value!r}; known types: {known_types()}")
        return value


class DevloopConfig(StrictModel):
    version: Literal[1] = 1
    provider: Literal["kind", "docker"] = "kind"
    cluster: str = "devloop"
    context: str | None = None
    registry: str | None = None
    namespace: str | None = None
    router_port: int = Field(default=8080, ge=1, le=65535)
    keep_images: int = Field(default=3, ge=1)
    services: list[ServiceConfig] = Field(default_factory=list)
    apps: list[AppConfig] = Field(min_length=1)

    @field_validator("registry")
    @classmethod
    def _registry(cls, value: str | None) -> str | None:
        return None if value is None else str(parse_registry(value))

    @field_validator("namespace")
    @classmethod
    def _namespace(cls, value: str | None) -> str | None:
        return None if value is None else check_namespace(value)
