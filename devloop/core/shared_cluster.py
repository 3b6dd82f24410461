"""What a shared cluster needs decided without I/O: a registry address checked, and one namespace per
developer and project so a team shares one cluster without meeting each other's apps."""

from __future__ import annotations

import re
from dataclasses import dataclass

from devloop.core.names import check_dns_1123_label

DNS_LABEL_MAX = 63
_COMPONENT = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$")  # the distribution spec's path component
_LABEL = r"[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?"
_HOST = re.compile(rf"^{_LABEL}(?:\.{_LABEL})*$")
# The context names local distributions write into the kubeconfig (Skaffold and Tilt detect the same):
# these clusters run on this machine, so the project's own namespace stays as it always was.
LOCAL_CONTEXT_PREFIXES = ("kind-", "k3d-")
LOCAL_CONTEXTS = frozenset({
    "minikube", "docker-desktop", "docker-for-desktop", "orbstack", "rancher-desktop", "colima", "microk8s",
})  # fmt: skip


@dataclass(frozen=True)
class RegistryRef:
    """`HOST[:PORT][/PREFIX]`: where images are pushed, and the host `docker login` takes."""

    host: str
    prefix: str = ""

    def __str__(self) -> str:
        return f"{self.host}/{self.prefix}" if self.prefix else self.host


def parse_registry(value: str) -> RegistryRef:
    """The registry address, or ValueError saying which part is wrong and what is expected."""
    text = value.strip().rstrip("/")
    if "://" in text:
        raise ValueError(f"registry {value!r} is HOST[:PORT][/PREFIX], without a scheme (no https://)")
    host, _, prefix = text.partition("/")
    name, colon, port = host.partition(":")
    if not name or not _HOST.match(name) or (colon and not (port.isdigit() and 0 < int(port) < 65536)):
        raise ValueError(f"registry {value!r} must start with a host name and an optional :PORT")
    if "." not in name and not colon and name != "localhost":
        raise ValueError(
            f"registry {value!r} has no host (a name with a dot or a :PORT); "
            f"for Docker Hub write docker.io/{name}"
        )
    for component in prefix.split("/") if prefix else []:
        if not _COMPONENT.match(component):
            raise ValueError(
                f"registry {value!r}: {component!r} is no repository path part "
                "(lower-case letters, digits, . _ -)"
            )
    return RegistryRef(host, prefix)


def dns_label(text: str) -> str:
    """`text` as a DNS-1123 label part: lower-case, letters, digits and dashes, no dash at the ends."""
    return re.sub(r"-+", "-", re.sub(r"[^a-z0-9-]", "-", text.lower())).strip("-")


def is_local_context(context: str | None) -> bool:
    """No context (devloop's own kind cluster) or one a local distribution named."""
    return context is None or context in LOCAL_CONTEXTS or context.startswith(LOCAL_CONTEXT_PREFIXES)


def developer_namespace(user: str, project: str) -> str:
    """`devloop-<user>-<project>`, DNS-safe and at most 63 characters (the project part is cut first)."""
    who = dns_label(user)[:24].strip("-") or "user"
    what = dns_label(project) or "project"
    return f"devloop-{who}-{what}"[:DNS_LABEL_MAX].rstrip("-")


def check_namespace(value: str) -> str:
    """A namespace name as the API server takes it (a DNS-1123 label), or ValueError."""
    return check_dns_1123_label(value, "namespace", DNS_LABEL_MAX)
