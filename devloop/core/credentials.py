"""Which environment values are credentials, so they are masked on screen and kept out of ConfigMaps.

A value counts when its name says so (`*_PASSWORD`, `*_SECRET`, `*_TOKEN`, `*_KEY`, ...)
or when it is a URL carrying a password (`postgres://user:PASSWORD@db:5432/app`).
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

MASK = "••••••"
_SECRET_NAME = re.compile(
    r"(^|_)(PASSWORD|PASSWD|PWD|PASS|SECRET|SECRETS|TOKEN|KEY|APIKEY|CREDENTIALS?)$", re.IGNORECASE
)


def url_password(value: str) -> str | None:
    """The password of a URL such as `scheme://user:password@host/...`, if it has one."""
    if "://" not in value or "@" not in value:
        return None
    try:
        return urlsplit(value.strip()).password or None
    except ValueError:
        return None


def looks_secret(name: str, value: str) -> bool:
    """A credential by its name, or a URL with a password in it."""
    return bool(_SECRET_NAME.search(name)) or url_password(value) is not None


def mask_url(value: str, mask: str = MASK) -> str:
    """The URL with its password hidden; anything else unchanged."""
    password = url_password(value)
    if password is None:
        return value
    scheme, sep, rest = value.partition("://")
    auth, at, host = rest.rpartition("@")
    user = auth.split(":", 1)[0]
    return f"{scheme}{sep}{user}:{mask}{at}{host}"


Env = tuple[tuple[str, str], ...]


def split_credentials(env: Env) -> tuple[Env, tuple[str, ...]]:
    """(the entries that are not credentials, the names of those that are)."""
    found = tuple(name for name, value in env if looks_secret(name, value))
    return tuple((k, v) for k, v in env if k not in found), found
