"""What `devloop down` removed, and the one line that says so."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Removed:
    """A teardown's count: instances, and (the whole project) its services and their volumes."""

    instances: int
    services: tuple[str, ...] = ()
    volumes: tuple[str, ...] = ()


def describe_removal(result: int | Removed) -> str:
    """`removed 2 instance(s), 2 service(s) (db, queue) and 2 volume(s) with their data (...)`."""
    removed = result if isinstance(result, Removed) else Removed(int(result))
    parts = [f"{removed.instances} instance(s)"]
    if removed.services:
        parts.append(f"{len(removed.services)} service(s) ({', '.join(removed.services)})")
    if removed.volumes:
        parts.append(f"{len(removed.volumes)} volume(s) with their data ({', '.join(removed.volumes)})")
    return "removed " + (", ".join(parts[:-1]) + " and " + parts[-1] if len(parts) > 1 else parts[0])
