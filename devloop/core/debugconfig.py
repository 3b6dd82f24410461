"""IDE attach settings for the debugged instances: VS Code `launch.json` entries (merged by name
into a file the user may already have) and the host/port/path mappings JetBrains asks for. Pure:
the caller gives each instance's address and the container's working folder."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from devloop.core.debug import RUNTIMES

PREFIX = "devloop: "  # the entries devloop writes, so a rerun replaces its own and no other


@dataclass(frozen=True)
class Target:
    """One debugged instance: where to attach, and which local folder is which container folder."""

    app: str
    instance: str  # `0`, `worker/1`
    runtime: str  # core.debug runtime name
    host: str
    port: int
    local_root: str  # relative to the workspace (`.`, `api`)
    remote_root: str  # the container's working folder (`/app`)

    @property
    def name(self) -> str:
        return f"{PREFIX}{self.app}/{self.instance} ({RUNTIMES[self.runtime].tool})"


def vscode_entry(target: Target) -> dict[str, Any]:
    """The `launch.json` configuration attaching to `target`, in each debugger's own keys."""
    local = "${workspaceFolder}"
    if target.local_root not in ("", "."):
        local = f"{local}/{target.local_root}"
    if target.runtime == "python":
        return {"name": target.name, "type": "debugpy", "request": "attach",
                "connect": {"host": target.host, "port": target.port},
                "pathMappings": [{"localRoot": local, "remoteRoot": target.remote_root}],
                "justMyCode": True}  # fmt: skip
    if target.runtime == "node":
        return {"name": target.name, "type": "node", "request": "attach", "address": target.host,
                "port": target.port, "localRoot": local, "remoteRoot": target.remote_root}  # fmt: skip
    if target.runtime == "go":
        return {"name": target.name, "type": "go", "request": "attach", "mode": "remote",
                "host": target.host, "port": target.port,
                "substitutePath": [{"from": local, "to": target.remote_root}]}  # fmt: skip
    return {"name": target.name, "type": "java", "request": "attach", "hostName": target.host,
            "port": target.port}  # fmt: skip


def merged_launch(existing: str | None, targets: list[Target]) -> str:
    """launch.json with devloop's entries for `targets`: the user's own entries kept as they are,
    devloop's earlier ones replaced. ValueError when `existing` is not plain JSON (VS Code accepts
    comments; devloop would lose them: the caller says so and asks for --force)."""
    document: dict[str, Any] = {"version": "0.2.0", "configurations": []}
    if existing is not None and existing.strip():
        try:
            loaded = json.loads(existing)
        except json.JSONDecodeError as exc:
            raise ValueError(f"it is not plain JSON (line {exc.lineno}: {exc.msg})") from None
        if not isinstance(loaded, dict) or not isinstance(loaded.get("configurations", []), list):
            raise ValueError("it has no `configurations` list")
        document = loaded
    ours = [vscode_entry(t) for t in targets]
    names = {entry["name"] for entry in ours}

    def ours_before(entry: object) -> bool:
        name = str(entry.get("name", "")) if isinstance(entry, dict) else ""
        return name in names or name.startswith(PREFIX)

    kept = [c for c in document.get("configurations", []) if not ours_before(c)]
    document["configurations"] = [*kept, *ours]
    return json.dumps(document, indent=2) + "\n"


def jetbrains_lines(targets: list[Target]) -> list[str]:
    """What a JetBrains "remote debug" configuration asks for, per instance."""
    return [
        f"{t.app}/{t.instance} ({RUNTIMES[t.runtime].tool}): host {t.host} port {t.port}, "
        f"path mapping {t.local_root or '.'} -> {t.remote_root}"
        for t in targets
    ]
