"""IDE attach settings: VS Code entries per debugger, merged by name into the user's launch.json."""

from __future__ import annotations

import json

import pytest

from devloop.core.debugconfig import Target, jetbrains_lines, merged_launch, vscode_entry

PY = Target("web", "0", "python", "127.0.0.1", 24905, ".", "/app")
NODE = Target("api", "0", "node", "127.0.0.1", 25001, "api", "/app")


def test_python_and_node_entries_attach_with_their_path_mappings() -> None:
    assert vscode_entry(PY) == {
        "name": "devloop: web/0 (debugpy)", "type": "debugpy", "request": "attach",
        "connect": {"host": "127.0.0.1", "port": 24905},
        "pathMappings": [{"localRoot": "${workspaceFolder}", "remoteRoot": "/app"}], "justMyCode": True,
    }  # fmt: skip
    node = vscode_entry(NODE)
    assert (node["type"], node["port"], node["localRoot"], node["remoteRoot"]) == (
        "node", 25001, "${workspaceFolder}/api", "/app"
    )


def test_the_users_entries_are_kept_and_devloops_replaced() -> None:
    mine = {"name": "my tests", "type": "debugpy", "request": "launch"}
    old = {**vscode_entry(PY), "connect": {"host": "127.0.0.1", "port": 1}}
    existing = json.dumps({"version": "0.2.0", "configurations": [mine, old], "compounds": []})
    merged = json.loads(merged_launch(existing, [PY, NODE]))
    assert merged["configurations"] == [mine, vscode_entry(PY), vscode_entry(NODE)]
    assert merged["compounds"] == []
    assert json.loads(merged_launch(None, [PY]))["configurations"] == [vscode_entry(PY)]


def test_a_launch_json_with_comments_is_not_rewritten() -> None:
    with pytest.raises(ValueError, match="not plain JSON"):
        merged_launch('{\n  // mine\n  "configurations": []\n}', [PY])


def test_jetbrains_gets_host_port_and_mapping() -> None:
    assert jetbrains_lines([PY]) == ["web/0 (debugpy): host 127.0.0.1 port 24905, path mapping . -> /app"]
