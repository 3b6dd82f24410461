"""The keep-N rule as a table: which content tags stay and which go, per app, never a running one."""

from __future__ import annotations

import pytest

from devloop.images.budget import StoredImage, app_of, plan


def tag(n: int) -> str:
    return f"{n:016x}"


def img(app: str, n: int, created: float | None = None, repo: str | None = None, id: str = "") -> StoredImage:
    return StoredImage(repo or f"devloop/{app}", tag(n), float(n if created is None else created), 10, id or f"id{app}{n}")


def tags(images: tuple[StoredImage, ...]) -> list[str]:
    return sorted(i.ref for i in images)


@pytest.mark.parametrize(
    ("images", "keep", "in_use", "removed", "running"),
    [
        # fewer than N: nothing goes
        ([img("web", 1), img("web", 2)], 3, [], [], []),
        # exactly the oldest beyond N go, newest by creation time (not by name)
        ([img("web", n) for n in range(1, 6)], 3, [], ["devloop/web:" + tag(1), "devloop/web:" + tag(2)], []),
        ([img("web", 9, created=1), img("web", 1, created=5), img("web", 2, created=6)], 2, [],
         ["devloop/web:" + tag(9)], []),
        # per app: each app keeps its own N
        ([img("web", 1), img("web", 2), img("api", 3), img("api", 4)], 1, [],
         ["devloop/api:" + tag(3), "devloop/web:" + tag(1)], []),
        # a running tag beyond N stays, named with a registry prefix or not
        ([img("web", n) for n in range(1, 5)], 1, ["localhost:5001/devloop/web:" + tag(1)],
         ["devloop/web:" + tag(2), "devloop/web:" + tag(3)], ["devloop/web:" + tag(1)]),
        # two names of one tag go (or stay) together and count once toward N
        ([img("web", 1), img("web", 1, repo="localhost:5001/devloop/web"), img("web", 2),
          img("web", 2, repo="localhost:5001/devloop/web")], 1, [],
         ["devloop/web:" + tag(1), "localhost:5001/devloop/web:" + tag(1)], []),
    ],
)  # fmt: skip
def test_keep_the_newest_n_per_app_and_never_a_running_one(
    images: list[StoredImage], keep: int, in_use: list[str], removed: list[str], running: list[str]
) -> None:
    chosen = plan(images, keep, in_use)
    assert tags(chosen.remove) == removed
    assert tags(chosen.running) == running
    assert len(chosen.keep) + len(chosen.remove) + len(chosen.running) == len(images)


def test_an_image_an_instance_runs_by_id_stays() -> None:
    images = [img("web", 1, id="sha256:old"), img("web", 2), img("web", 3)]
    chosen = plan(images, 1, in_use_ids=["sha256:old"])
    assert tags(chosen.running) == ["devloop/web:" + tag(1)]
    assert tags(chosen.remove) == ["devloop/web:" + tag(2)]


def test_only_content_tags_of_the_projects_apps_are_candidates() -> None:
    images = [
        StoredImage("devloop/web", "latest", 1, 10, "a"),  # a user's own tag
        StoredImage("python", "3.12-slim", 1, 10, "b"),  # a base image
        StoredImage("devloop/other", tag(1), 1, 10, "c"),  # another project's app
        StoredImage("devloop/other", tag(2), 2, 10, "d"),
        img("web", 1), img("web", 2),
    ]  # fmt: skip
    chosen = plan(images, 1, apps=["web"])
    assert tags(chosen.remove) == ["devloop/web:" + tag(1)]


def test_freed_counts_an_image_once_and_none_that_stays_under_another_name() -> None:
    shared = StoredImage("devloop/web", tag(1), 1, 100, "same")
    alias = StoredImage("localhost:5001/devloop/web", tag(1), 1, 100, "same")
    assert plan([shared, alias, img("web", 2), img("web", 3)], 2).freed == 100


def test_keep_zero_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        plan([img("web", 1)], 0)


@pytest.mark.parametrize(
    ("repository", "app"),
    [("devloop/web", "web"), ("localhost:5001/devloop/web", "web"), ("docker.io/devloop/api", "api"),
     ("python", None), ("devloop", None), ("devloop-base/debian", None), ("devloop/", None)],
)  # fmt: skip
def test_app_of(repository: str, app: str | None) -> None:
    assert app_of(repository) == app
