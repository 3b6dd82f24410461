"""Backing services (a database, a cache, a broker) and how apps are bound to them: pure, no I/O.

Like `cf create-service` + `cf bind-service`, but local: each service type names
the image that runs it, its port, where it keeps data, how to tell it is ready,
and the credentials an app gets, as Cloud Foundry's `VCAP_SERVICES` JSON and as
the conventional `DATABASE_URL` / `REDIS_URL` / `AMQP_URL` variables.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import quote

from devloop.core.pull import PullPolicy


@dataclass(frozen=True)
class ServiceType:
    name: str  # the `type:` a user writes
    label: str  # VCAP_SERVICES label, as a cf marketplace would name it
    image: str
    port: int
    data_path: str  # a volume here keeps the data across restarts
    scheme: str  # of the credentials' uri
    url_variable: str  # the conventional variable bound apps get
    username: str
    database: str | None  # the database (or vhost) name in the uri; None: none
    ready_command: tuple[str, ...]  # run in the container; exit 0 once it serves
    shell_command: tuple[str, ...]  # the client `devloop service-shell` opens
    aliases: tuple[str, ...] = ()

    def environment(self, password: str, database: str) -> dict[str, str]:
        """What the image needs to start with this password (the official images' contract)."""
        # Each also gets its client's password variable, so the readiness check and
        # `devloop service-shell` run the client in the container without asking.
        match self.name:
            case "postgres":
                return {"POSTGRES_PASSWORD": password, "POSTGRES_USER": self.username,
                        "POSTGRES_DB": database, "PGPASSWORD": password}  # fmt: skip
            case "mysql":
                return {"MARIADB_ROOT_PASSWORD": password, "MARIADB_DATABASE": database,
                        "MARIADB_USER": self.username, "MARIADB_PASSWORD": password,
                        "MYSQL_PWD": password}  # fmt: skip
            case "rabbitmq":
                return {"RABBITMQ_DEFAULT_USER": self.username, "RABBITMQ_DEFAULT_PASS": password}
            case "redis":
                return {"REDISCLI_AUTH": password}
        return {}

    @property
    def password_variable(self) -> str:
        """The variable of `environment` that holds the password (where a cluster keeps it)."""
        return {"postgres": "POSTGRES_PASSWORD", "mysql": "MARIADB_ROOT_PASSWORD",
                "rabbitmq": "RABBITMQ_DEFAULT_PASS", "redis": "REDISCLI_AUTH"}[self.name]  # fmt: skip

    def command(self, password: str) -> list[str] | None:
        """The container command, when the password goes there (redis has no variable for it)."""
        if self.name == "redis":
            return ["redis-server", "--bind", "0.0.0.0", "--requirepass", password,
                    "--appendonly", "yes", "--dir", self.data_path]  # fmt: skip
        return None


CATALOG: dict[str, ServiceType] = {
    t.name: t
    for t in (
        ServiceType("postgres", "postgresql", "postgres:16", 5432, "/var/lib/postgresql/data", "postgres",
                    "DATABASE_URL", "postgres", "app", ("pg_isready", "-h", "127.0.0.1", "-q"),
                    ("psql", "-h", "127.0.0.1", "-U", "postgres", "app"),
                    ("postgresql", "pg", "elephantsql")),
        ServiceType("mysql", "mysql", "mariadb:11", 3306, "/var/lib/mysql", "mysql", "DATABASE_URL", "app",
                    "app", ("mariadb-admin", "ping", "-h", "127.0.0.1", "-u", "root", "--silent"),
                    ("mariadb", "-h", "127.0.0.1", "-u", "root", "app"), ("mariadb", "cleardb")),
        ServiceType("redis", "redis", "redis:7", 6379, "/data", "redis", "REDIS_URL", "", None,
                    ("sh", "-c", "redis-cli ping | grep -q PONG"),
                    ("redis-cli",), ("rediscloud", "cache")),
        ServiceType("rabbitmq", "rabbitmq", "rabbitmq:3-management", 5672, "/var/lib/rabbitmq", "amqp",
                    "AMQP_URL", "app", "", ("rabbitmq-diagnostics", "-q", "ping"), ("rabbitmqctl", "status"),
                    ("amqp", "cloudamqp")),
    )
}  # fmt: skip


def known_types() -> str:
    return ", ".join(sorted(CATALOG))


def exact_type(name: str) -> ServiceType | None:
    """The type named `name` (or one of its aliases: `postgresql`, `mariadb`, ...)."""
    lowered = name.lower()
    for service in CATALOG.values():
        if lowered in (service.name, *service.aliases):
            return service
    return None


def type_for(name: str) -> ServiceType | None:
    """The type a service name means: `postgres`, or a name containing one (`orders-db-postgres`)."""
    if (exact := exact_type(name)) is not None:
        return exact
    lowered = name.lower()
    for service in CATALOG.values():
        if any(word in lowered for word in (service.name, *service.aliases) if len(word) > 2):
            return service
    return None


@dataclass(frozen=True)
class ServiceSpec:
    name: str
    type: ServiceType
    plan: str = "local"
    host_port: int | None = None  # also published on 127.0.0.1 for local tools
    ready_timeout_s: int = 90
    image_override: str | None = None  # another image of the same kind (postgres:15, ...)
    pull: PullPolicy = PullPolicy.MISSING

    @property
    def image(self) -> str:
        return self.image_override or self.type.image

    @property
    def database(self) -> str:
        return self.type.database if self.type.database is not None else ""


def new_password() -> str:
    return secrets.token_urlsafe(18)


@dataclass(frozen=True)
class Credentials:
    hostname: str
    port: int
    username: str
    password: str
    name: str  # database or vhost

    def uri(self, scheme: str) -> str:
        user = quote(self.username, safe="")
        auth = f"{user}:{quote(self.password, safe='')}@" if self.password else ""
        path = f"/{quote(self.name, safe='')}" if self.name else ""
        return f"{scheme}://{auth}{self.hostname}:{self.port}{path}"

    def as_dict(self, scheme: str) -> dict[str, object]:
        return {
            "uri": self.uri(scheme),
            "hostname": self.hostname,
            "port": self.port,
            "username": self.username,
            "password": self.password,
            "name": self.name,
        }


def credentials_for(
    service: ServiceSpec, password: str, hostname: str | None = None, port: int | None = None
) -> Credentials:
    """How a bound app reaches `service`: by its name on the project's network, by default."""
    return Credentials(
        hostname or service.name, port or service.type.port, service.type.username, password, service.database
    )


def binding_env(bound: Iterable[tuple[ServiceSpec, Credentials]]) -> dict[str, str]:
    """`VCAP_SERVICES` (cf's shape: label -> instances) and one conventional URL per type.

    With two services of one type, the variable goes to the first bound, as Spring Cloud
    Connectors and most buildpacks pick the first match.
    """
    vcap: dict[str, list[dict[str, object]]] = {}
    env: dict[str, str] = {}
    for service, credentials in bound:
        vcap.setdefault(service.type.label, []).append(
            {
                "label": service.type.label,
                "name": service.name,
                "plan": service.plan,
                "tags": [service.type.name],
                "instance_name": service.name,
                "binding_name": None,
                "credentials": credentials.as_dict(service.type.scheme),
            }
        )
        env.setdefault(service.type.url_variable, credentials.uri(service.type.scheme))
    if vcap:
        env["VCAP_SERVICES"] = json.dumps(vcap, sort_keys=True)
    return env


def masked(credentials: dict[str, object]) -> dict[str, object]:
    """For printing: the password, and the uri's password, hidden."""
    hidden = dict(credentials)
    password = str(hidden.get("password") or "")
    if password:
        hidden["password"] = "*****"
        hidden["uri"] = str(hidden.get("uri", "")).replace(quote(password, safe=""), "*****")
    return hidden
