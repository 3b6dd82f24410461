"""Syncs into the docker provider's containers on a FakeDockerEngine: files in by the archive
endpoint, deletions by an exec, and a container that crashed since the list started again."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

from devloop.core.changes import SyncCopy
from devloop.core.spec import AppSpec
from devloop.errors import DockerConflictError
from devloop.providers.docker.containers import Containers
from devloop.providers.docker.labels import LABEL_APP, LABEL_INDEX, LABEL_PROJECT
from devloop.providers.docker.rotation import Routing
from devloop.providers.docker.sync import InPlace
from devloop.providers.shared import Background
from devloop.router.router import Router
from tests.fakes.docker import FakeDockerEngine


async def sync(engine: FakeDockerEngine, app: AppSpec, copies: tuple[SyncCopy, ...]) -> int:
    router = Router(shared_port=0)
    background = Background()

    async def observe(_app: AppSpec) -> None:
        return None

    try:
        return await InPlace(Containers("p", engine), Routing(router, background), router, observe).sync(
            app, copies
        )
    finally:
        await router.close()
        await background.finish()


def app_in(tmp_path: Path) -> AppSpec:
    (tmp_path / "app.py").write_text("print('new')\n")
    return AppSpec("web", tmp_path, port=8080)


async def test_present_files_go_in_as_an_archive_and_gone_ones_are_deleted(tmp_path: Path) -> None:
    engine = FakeDockerEngine()
    one = engine.add_container(
        "devloop-web-g-0", labels={LABEL_PROJECT: "p", LABEL_APP: "web", LABEL_INDEX: "0"}
    )
    copies = (SyncCopy("app.py", "/app/app.py"), SyncCopy("old.py", "/app/old.py"))
    assert await sync(engine, app_in(tmp_path), copies) == 1
    ((where, archive),) = engine.named(one.id).archives
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        assert where == "/" and "app/app.py" in tar.getnames()
    assert engine.called("exec_output") == [(one.id, ("rm", "-f", "--", "/app/old.py"), "0")]
    assert engine.called("restart") == []


async def test_a_container_that_crashed_since_the_list_gets_the_files_and_is_started_again(
    tmp_path: Path,
) -> None:
    engine = FakeDockerEngine()
    one = engine.add_container(
        "devloop-web-g-0", labels={LABEL_PROJECT: "p", LABEL_APP: "web", LABEL_INDEX: "0"}
    )
    engine.fail("exec_output", DockerConflictError(f"Container {one.id} is not running"))
    copies = (SyncCopy("app.py", "/app/app.py"), SyncCopy("old.py", "/app/old.py"))
    assert await sync(engine, app_in(tmp_path), copies) == 1
    assert len(engine.named(one.id).archives) == 2  # once before the exec failed, once as a down container
    assert engine.called("restart") == [(one.id, 0)]
