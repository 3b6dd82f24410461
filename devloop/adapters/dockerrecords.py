"""The engine's JSON records (a container's inspect, a list entry, an event) as devloop's values.

Pure parsing, apart from the SDK module, so the shapes Docker answers with are read in one place
and tested without an engine.
"""

from __future__ import annotations

from collections.abc import Mapping

from devloop.adapters.dockerapi import ContainerEvent, ContainerInfo, PortBinding


def as_dict(value: object) -> Mapping[str, object]:
    return value if isinstance(value, dict) else {}


def _int(value: object) -> int:
    return value if isinstance(value, int) else 0


def _inspected_ports(ports: Mapping[str, object]) -> tuple[PortBinding, ...]:
    """NetworkSettings.Ports: {"8080/tcp": [{"HostIp": "127.0.0.1", "HostPort": "32768"}]}."""
    found = []
    for key, bindings in ports.items():
        number, _, proto = key.partition("/")
        if proto != "tcp" or not number.isdigit() or not isinstance(bindings, list):
            continue
        for binding in bindings:
            host_port = str(as_dict(binding).get("HostPort") or "")
            if host_port.isdigit():
                found.append(
                    PortBinding(int(number), int(host_port), str(as_dict(binding).get("HostIp") or ""))
                )
    return tuple(found)


def _listed_ports(ports: object) -> tuple[PortBinding, ...]:
    """A summary's Ports: [{"IP": "127.0.0.1", "PrivatePort": 8080, "PublicPort": 32768, "Type": "tcp"}]."""
    found = []
    for port in ports if isinstance(ports, list) else []:
        one = as_dict(port)
        if one.get("Type") == "tcp" and isinstance(one.get("PublicPort"), int):
            found.append(
                PortBinding(
                    _int(one.get("PrivatePort")), _int(one.get("PublicPort")), str(one.get("IP") or "")
                )
            )
    return tuple(found)


def _labels(value: object) -> dict[str, str]:
    return {str(k): str(v) for k, v in as_dict(value).items()}


def container_info(attrs: Mapping[str, object]) -> ContainerInfo:
    state = as_dict(attrs.get("State"))
    config = as_dict(attrs.get("Config"))
    host = as_dict(attrs.get("HostConfig"))
    code = state.get("ExitCode")
    env = config.get("Env")
    return ContainerInfo(
        id=str(attrs.get("Id", "")),
        name=str(attrs.get("Name", "")).lstrip("/"),
        status=str(state.get("Status", "")),
        labels=_labels(config.get("Labels")),
        exit_code=code if isinstance(code, int) else None,
        ports=_inspected_ports(as_dict(as_dict(attrs.get("NetworkSettings")).get("Ports"))),
        network_mode=str(host.get("NetworkMode") or ""),
        networks=_network_names(attrs),
        running=bool(state.get("Running")),
        restarting=bool(state.get("Restarting")),
        restart_count=_int(attrs.get("RestartCount")),
        oom_killed=bool(state.get("OOMKilled")),
        started_at=str(state.get("StartedAt") or ""),
        memory_bytes=_int(host.get("Memory")),
        user=str(config.get("User") or ""),
        env=tuple(str(e) for e in env) if isinstance(env, list) else (),
        health=str(as_dict(state.get("Health")).get("Status") or ""),
    )


def summary_info(summary: Mapping[str, object]) -> ContainerInfo:
    names = summary.get("Names")
    return ContainerInfo(
        id=str(summary.get("Id", "")),
        name=str(names[0]).lstrip("/") if isinstance(names, list) and names else "",
        status=str(summary.get("State", "")),
        labels=_labels(summary.get("Labels")),
        ports=_listed_ports(summary.get("Ports")),
        network_mode=str(as_dict(summary.get("HostConfig")).get("NetworkMode") or ""),
        networks=_network_names(summary),
    )


def _network_names(record: Mapping[str, object]) -> tuple[str, ...]:
    """The networks an inspect or a list entry says the container is on (NetworkSettings.Networks)."""
    return tuple(sorted(as_dict(as_dict(record.get("NetworkSettings")).get("Networks"))))


def container_event(record: Mapping[str, object]) -> ContainerEvent:
    actor = as_dict(record.get("Actor"))
    return ContainerEvent(
        str(record.get("Action") or record.get("status") or ""),
        str(actor.get("ID") or record.get("id") or ""),
        _labels(actor.get("Attributes")),
    )
