"""DNS-safe Kubernetes names from devloop's names: a Service name must be a DNS-1035 label, which an
app or service name that starts with a digit (valid for everything else) is not."""

from __future__ import annotations

import re

_INVALID = re.compile(r"[^a-z0-9-]+")
PREFIX = "app-"  # what makes a name that starts with a digit start with a letter


DNS_1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def check_dns_1123_label(value: str, what: str, limit: int = 63) -> str:
    """`value` when the API server takes it as a DNS-1123 label of at most `limit` characters,
    else ValueError saying so for `what` (a namespace, a task name)."""
    if len(value) > limit or not DNS_1123_LABEL.match(value):
        raise ValueError(
            f"invalid {what} {value!r}: use lower-case letters, digits and '-', starting and ending "
            f"with a letter or digit, at most {limit} characters"
        )
    return value


def dns_label(name: str) -> str:
    """`name` as a DNS-1035 label (lowercase letters, digits, '-'; a letter first; 63 at most).

    A name that already is one comes back unchanged; one starting with a digit gets `app-` in front
    (`1web` -> `app-1web`), so distinct valid names stay distinct."""
    cleaned = _INVALID.sub("-", name.lower()).strip("-") or "x"
    if not cleaned[0].isalpha():
        cleaned = PREFIX + cleaned
    return cleaned[:63].rstrip("-")
