"""The one table of the kind and Kubernetes versions devloop works with, so that every gate agrees:
a kind devloop accepts creates a Kubernetes devloop accepts."""

from __future__ import annotations

Version = tuple[int, ...]

# Kubernetes: the v5 exec protocol (an exec's stdin that closes, for sync's tar) is served from 1.30.
MIN_KUBERNETES: Version = (1, 30)
# The Kubernetes of each kind release's default node image (kind's release notes). devloop's cluster
# config pins no image, so a kind release makes the cluster it defaults to.
KIND_DEFAULT_KUBERNETES: dict[Version, Version] = {
    (0, 20): (1, 27), (0, 21): (1, 29), (0, 22): (1, 29), (0, 23): (1, 30), (0, 24): (1, 31),
    (0, 25): (1, 31), (0, 26): (1, 32), (0, 27): (1, 32), (0, 28): (1, 33), (0, 29): (1, 33),
    (0, 30): (1, 34), (0, 31): (1, 35), (0, 32): (1, 36), (0, 33): (1, 37),
}  # fmt: skip
# kind >= 0.20 reads registry mirrors from containerd's config_path (hosts.toml); the first release
# whose default node runs MIN_KUBERNETES is later still, and decides.
MIN_KIND: Version = (*min(k for k, v in KIND_DEFAULT_KUBERNETES.items() if v >= MIN_KUBERNETES), 0)


def shown(version: Version) -> str:
    return ".".join(map(str, version))


def kind_upgrade_hint() -> str:
    """What to upgrade kind to, and why that is enough."""
    node = KIND_DEFAULT_KUBERNETES[MIN_KIND[:2]]
    return f"upgrade kind to v{shown(MIN_KIND)} or newer (its clusters run Kubernetes {shown(node)}+)"


def kubernetes_upgrade_hint(on_kind: bool) -> str:
    """What to do about a cluster whose Kubernetes is older than MIN_KUBERNETES."""
    if on_kind:
        return (
            f"the cluster was made by an older kind: {kind_upgrade_hint()}, then "
            "`devloop down --cluster` and `devloop up` make it anew"
        )
    return f"use a cluster running Kubernetes {shown(MIN_KUBERNETES)} or newer"
