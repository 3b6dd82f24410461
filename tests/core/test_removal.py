"""What `devloop down` says it removed."""

from __future__ import annotations

from devloop.core.removal import Removed, describe_removal


def test_describe_removal() -> None:
    assert describe_removal(2) == "removed 2 instance(s)"
    assert describe_removal(Removed(2, ("cache",))) == "removed 2 instance(s) and 1 service(s) (cache)"
    assert describe_removal(Removed(0, ("cache", "db"), ("v-cache", "v-db"))) == (
        "removed 0 instance(s), 2 service(s) (cache, db) and 2 volume(s) with their data (v-cache, v-db)"
    )
