"""`devloop env APP` as `cf env` shows it: system-provided and user-provided variables, secrets masked.

Pure: the caller reads the running instance's environment (or has none) and the config;
this decides which variable goes where and what is hidden.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from devloop.core.credentials import MASK, looks_secret, mask_url
from devloop.core.services import CATALOG

# What devloop itself gives every instance (cf's system-provided environment) and the bindings.
SYSTEM_NAMES = frozenset(
    {"VCAP_APPLICATION", "VCAP_SERVICES", "PORT", "CF_INSTANCE_INDEX", "INSTANCE_INDEX"}
    | {t.url_variable for t in CATALOG.values()}
)


def _mask_credentials(tree: Any) -> Any:
    """VCAP_SERVICES with every password and every URL's password hidden."""
    if isinstance(tree, dict):
        return {k: MASK if k == "password" and v else _mask_credentials(v) for k, v in tree.items()}
    if isinstance(tree, list):
        return [_mask_credentials(v) for v in tree]
    if isinstance(tree, str):
        return mask_url(tree)
    return tree


def _system_value(name: str, value: str, show_secrets: bool) -> list[str]:
    if name.startswith("VCAP_"):
        try:
            tree = json.loads(value)
        except ValueError:
            tree = None
        if tree is not None:
            shown = tree if show_secrets else _mask_credentials(tree)
            return f"{name}: {json.dumps(shown, indent=2, sort_keys=True, ensure_ascii=False)}".splitlines()
    return [f"{name}: {value if show_secrets else mask_url(value)}"]


def env_report(
    env: Sequence[tuple[str, str]],
    secret_env: Sequence[tuple[str, str]],
    running: Mapping[str, str] | None,
    *,
    show_secrets: bool = False,
    source: str = "",
) -> list[str]:
    """The lines of `devloop env`. `running` is the instance's environment (None: none runs),
    `source` says where it was read (`instance 0`); user values are the running ones when known."""
    lines = ["System-Provided:" + (f" (read from {source})" if source and running is not None else "")]
    if running is None:
        lines.append("(no instance runs: `devloop up` starts one, and devloop gives it these)")
    else:
        system = sorted(k for k in running if k in SYSTEM_NAMES and k not in dict(env) | dict(secret_env))
        for name in system:
            lines += _system_value(name, running[name], show_secrets)
        if not system:
            lines.append("(none)")
    return [*lines, "", "User-Provided:", *user_lines(env, secret_env, running, show_secrets)]


def user_lines(
    env: Sequence[tuple[str, str]],
    secret_env: Sequence[tuple[str, str]],
    running: Mapping[str, str] | None = None,
    show_secrets: bool = False,
) -> list[str]:
    """The config's variables (`env`, and `env_file` as secrets), with the running values if known."""
    lines: list[str] = []
    secrets = dict(secret_env)
    user = [*env, *((k, v) for k, v in secret_env if k not in dict(env))]
    for name, configured in user:
        value = running.get(name, configured) if running is not None else configured
        if name in secrets:
            lines.append(f"{name}: {value if show_secrets else MASK}  (secret)")
        elif looks_secret(name, value) and not show_secrets:
            lines.append(f"{name}: {mask_url(value) if mask_url(value) != value else MASK}")
        else:
            lines.append(f"{name}: {value}")
    if not user:
        lines.append("(none set)")
    return lines


def parse_environ(raw: bytes) -> dict[str, str]:
    """`/proc/PID/environ` (NUL-separated NAME=value) as a mapping."""
    pairs = (item.decode("utf-8", "replace").partition("=") for item in raw.split(b"\0") if item)
    return {name: value for name, sep, value in pairs if sep}


def parse_env_list(items: Sequence[str]) -> dict[str, str]:
    """Docker's `Config.Env` (`NAME=value` strings) as a mapping."""
    return {name: value for name, sep, value in (i.partition("=") for i in items) if sep}
