"""Each cluster type's way in, through fake CLIs that record argv (tests/fakes/bin), and the
fallback that happens once per session."""

from __future__ import annotations

import io
import json
import re
import subprocess
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from devloop.errors import ProviderError
from devloop.providers.kind import delivery
from devloop.providers.kind.clusters import ClusterType, Detected
from devloop.providers.kind.delivery import Delivery, Way, ways
from devloop.providers.kind.registry import node_platform, uses_containerd_store
from tests.conftest import FAKE_BIN

IMAGE = "devloop/web:0123456789abcdef"
INFO = Path(__file__).resolve().parents[2] / "data" / "docker-info"


def calls(state: Path) -> list[list[str]]:
    path = state / "calls"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


@pytest.fixture
def fakes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Path]]:
    """The fake kind, k3d and minikube on PATH, each knowing one cluster (`dev`)."""
    states = {}
    for tool, listing in (("kind", "clusters"), ("k3d", "clusters"), ("minikube", "profiles")):
        state = tmp_path / tool
        state.mkdir()
        (state / listing).write_text("dev\n")
        monkeypatch.setenv(f"FAKE_{tool.upper()}_STATE", str(state))
        states[tool] = state
    monkeypatch.setenv("PATH", f"{FAKE_BIN}:/usr/bin:/bin")
    yield states


@pytest.fixture
def fake_save(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str | None]]:
    """`docker image save` replaced by a one-manifest archive (the Docker test below saves for real)."""
    saved: list[tuple[str, str | None]] = []

    async def save(image: str, platform: str | None, archive: Path) -> None:
        saved.append((image, platform))
        data = json.dumps([{"Config": "c.json", "RepoTags": [image], "Layers": []}]).encode()
        with tarfile.open(archive, "w") as tar:
            info = tarfile.TarInfo("manifest.json")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))

    monkeypatch.setattr(delivery, "save_image", save)
    return saved


def on(kind: ClusterType, name: str = "dev", shares: bool = False) -> Detected:
    return Detected(kind, name, shares, "test")


def classic() -> None:
    return None


def store(name: str) -> dict[str, object]:
    return dict(json.loads((INFO / name).read_text()))


LINE = re.compile(r"delivered (\S+) to (\S+) cluster (\S+) via (.+) in \d+\.\d\d s")


@pytest.mark.parametrize(
    ("kind", "registry", "containerd", "expected"),
    [
        (ClusterType.KIND, None, False, [Way.KIND_LOAD, Way.KIND_ARCHIVE]),
        (ClusterType.KIND, None, True, [Way.KIND_ARCHIVE, Way.KIND_LOAD]),
        (ClusterType.KIND, "localhost:5001", False, [Way.REGISTRY, Way.KIND_LOAD, Way.KIND_ARCHIVE]),
        (ClusterType.K3D, None, False, [Way.K3D_IMPORT, Way.K3D_ARCHIVE]),
        (ClusterType.K3D, None, True, [Way.K3D_ARCHIVE, Way.K3D_IMPORT]),
        (ClusterType.MINIKUBE, None, True, [Way.MINIKUBE_LOAD, Way.MINIKUBE_ARCHIVE]),
        (ClusterType.UNKNOWN, "registry.team:5000/dev", False, [Way.REGISTRY]),
        (ClusterType.UNKNOWN, None, False, []),
    ],
)
def test_the_plan_per_cluster_type(
    kind: ClusterType, registry: str | None, containerd: bool, expected: list[Way]
) -> None:
    assert ways(on(kind), registry, containerd) == expected


def test_a_cluster_on_the_engine_copies_nothing_and_one_that_is_not_needs_a_registry() -> None:
    assert ways(on(ClusterType.DOCKER_DESKTOP, shares=True), "localhost:5001", False) == [Way.SHARED]
    assert ways(on(ClusterType.DOCKER_DESKTOP, shares=False), None, False) == []


def test_the_containerd_store_is_read_from_a_real_docker_info_shape() -> None:
    """Docker's /info: `DriverStatus` [["driver-type", "io.containerd.snapshotter.v1"]] with the
    containerd image store. The classic file is this machine's engine's answer; the containerd one is
    the same answer with the fields Docker 29 sets (Driver `overlayfs`, that DriverStatus)."""
    classic_info, containerd_info = store("classic-overlay2-20.10.json"), store("containerd-store-29.json")
    assert not uses_containerd_store(classic_info) and uses_containerd_store(containerd_info)
    assert node_platform(containerd_info) == "linux/arm64"
    plan = Delivery(on(ClusterType.KIND), "kind-dev", containerd_platform=lambda: node_platform(containerd_info))
    assert plan.plan(None) == [Way.KIND_ARCHIVE, Way.KIND_LOAD]
    assert Delivery(on(ClusterType.KIND), "kind-dev", containerd_platform=classic).plan(None)[0] is Way.KIND_LOAD


async def test_kind_loads_the_image_by_name(fakes: dict[str, Path]) -> None:
    progress: list[str] = []
    got = await Delivery(on(ClusterType.KIND), "kind-dev", containerd_platform=classic).deliver(
        IMAGE, None, progress.append
    )
    assert got == IMAGE
    assert calls(fakes["kind"]) == [["load", "docker-image", IMAGE, "--name", "dev"]]
    [line] = progress
    match = LINE.fullmatch(line)
    assert match is not None and match.groups() == (IMAGE, "kind", "dev", "kind load docker-image")


async def test_with_the_containerd_store_kind_gets_one_platforms_archive(
    fakes: dict[str, Path], fake_save: list[tuple[str, str | None]]
) -> None:
    info = store("containerd-store-29.json")
    way = Delivery(on(ClusterType.KIND), "kind-dev", containerd_platform=lambda: node_platform(info))
    await way.deliver(IMAGE, None, lambda _line: None)
    assert fake_save == [(IMAGE, "linux/arm64")]
    [[*argv, archive, flag, name]] = calls(fakes["kind"])
    assert argv == ["load", "image-archive"] and (flag, name) == ("--name", "dev") and archive.endswith(".tar")


async def test_k3d_imports_into_its_cluster(fakes: dict[str, Path]) -> None:
    progress: list[str] = []
    await Delivery(on(ClusterType.K3D, "dev"), "k3d-dev", containerd_platform=classic).deliver(
        IMAGE, None, progress.append
    )
    assert calls(fakes["k3d"]) == [["image", "import", IMAGE, "-c", "dev"]]
    assert (fakes["k3d"] / "images").read_text() == f"dev {IMAGE}\n"
    assert "via k3d image import in" in progress[0]


async def test_minikube_loads_into_its_profile(fakes: dict[str, Path]) -> None:
    await Delivery(on(ClusterType.MINIKUBE, "dev"), "dev").deliver(IMAGE, None, lambda _line: None)
    assert calls(fakes["minikube"]) == [["image", "load", IMAGE, "-p", "dev"]]


async def test_an_engine_sharing_cluster_gets_no_copy(fakes: dict[str, Path]) -> None:
    progress: list[str] = []
    way = Delivery(on(ClusterType.DOCKER_DESKTOP, "docker-desktop", shares=True), "docker-desktop")
    assert await way.deliver(IMAGE, "localhost:5001", progress.append) == IMAGE
    assert all(calls(state) == [] for state in fakes.values())
    assert "via shared engine (no copy) in" in progress[0]


async def test_an_unknown_context_without_a_registry_says_how_to_name_one() -> None:
    with pytest.raises(ProviderError) as caught:
        await Delivery(on(ClusterType.UNKNOWN, "gke_team"), "gke_team").deliver(IMAGE, None, lambda _l: None)
    assert "context gke_team needs a registry" in str(caught.value)
    assert caught.value.hint is not None and "`registry:" in caught.value.hint and "--registry" in caught.value.hint
    other_engine = Delivery(on(ClusterType.ORBSTACK, "orbstack"), "orbstack")
    with pytest.raises(ProviderError, match="not the one that cluster runs"):
        await other_engine.deliver(IMAGE, None, lambda _l: None)


async def test_a_failed_fast_path_falls_back_once_and_is_not_tried_again(
    fakes: dict[str, Path], fake_save: list[tuple[str, str | None]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The store was not detected (`docker info` said nothing), so `kind load docker-image` goes
    first and fails as kind fails with the containerd store; the archive takes over for the session."""
    monkeypatch.setenv("FAKE_DOCKER_CONTAINERD_STORE", "1")
    way = Delivery(on(ClusterType.KIND), "kind-dev", containerd_platform=classic)
    first: list[str] = []
    await way.deliver(IMAGE, None, first.append)
    assert first[0].startswith("kind load docker-image failed (")
    assert first[0].endswith("falling back to docker save + kind load image-archive for this session")
    assert "ctr: content digest" in first[0]
    assert LINE.fullmatch(first[1]) is not None and len(first) == 2
    second: list[str] = []
    await way.deliver(IMAGE, None, second.append)
    assert len(second) == 1 and "via docker save + kind load image-archive" in second[0]
    assert [c[:2] for c in calls(fakes["kind"])] == [["load", "docker-image"], ["load", "image-archive"],
                                                     ["load", "image-archive"]]  # fmt: skip
    assert way.describe(None) == "docker save + kind load image-archive"


async def test_minikube_falls_back_to_an_archive(
    fakes: dict[str, Path], fake_save: list[tuple[str, str | None]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_MINIKUBE_FAIL_LOAD", "1")
    monkeypatch.setattr(delivery, "engine_image_store", classic)
    progress: list[str] = []
    await Delivery(on(ClusterType.MINIKUBE), "dev", containerd_platform=classic).deliver(
        IMAGE, None, progress.append
    )
    assert "(exit 80)" in progress[0] and "falling back to docker save + minikube image load" in progress[0]
    [_, (_, _, archive, _, _)] = calls(fakes["minikube"])
    assert archive.startswith("/") and archive.endswith("image.tar")


async def test_when_both_ways_fail_one_error_names_both(
    fakes: dict[str, Path], fake_save: list[tuple[str, str | None]]
) -> None:
    way = Delivery(on(ClusterType.K3D, "gone"), "k3d-gone", containerd_platform=classic)
    progress: list[str] = []
    with pytest.raises(ProviderError) as caught:
        await way.deliver(IMAGE, None, progress.append)
    text = str(caught.value)
    assert "reached no node of k3d-gone: k3d image import failed" in text
    assert "No nodes found for given cluster" in text and "then docker save + k3d image import" in text
    assert len(progress) == 1  # the fallback line; no "delivered"


async def test_an_unreachable_registry_falls_back_to_kind_load(fakes: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    async def refused(*_args: object) -> str:
        raise ProviderError("pushing localhost:1/devloop/web failed: connection refused")

    monkeypatch.setattr(delivery.registry_push, "push", refused)
    monkeypatch.setattr(delivery.dockersdk, "open_engine", lambda: _Closable())
    way = Delivery(on(ClusterType.KIND), None, containerd_platform=classic)
    progress: list[str] = []
    assert await way.deliver(IMAGE, "localhost:1", progress.append) == IMAGE
    assert progress[0].startswith("registry push failed (pushing localhost:1/devloop/web failed")
    assert way.failed.keys() == {Way.REGISTRY}
    assert way.describe("localhost:1") == "kind load docker-image"


class _Closable:
    def close(self) -> None:
        pass


@pytest.mark.docker
async def test_a_real_docker_save_goes_into_kind_load_image_archive(fakes: dict[str, Path], tmp_path: Path) -> None:
    """The archive path with the real engine: `--platform` where the engine knows it (28+), the
    whole image before that (this engine is 20.10); the fake kind reads the archive's manifest."""
    tag = "devloop-test/delivery-tiny:1"
    payload = io.BytesIO()
    with tarfile.open(fileobj=payload, mode="w") as tar:
        info = tarfile.TarInfo("hello.txt")
        info.size = 2
        tar.addfile(info, io.BytesIO(b"hi"))
    subprocess.run(["docker", "import", "-", tag], input=payload.getvalue(), check=True, capture_output=True)
    try:
        way = Delivery(on(ClusterType.KIND), "kind-dev", containerd_platform=lambda: "linux/amd64")
        await way.deliver(tag, None, lambda _line: None)
    finally:
        subprocess.run(["docker", "rmi", "-f", tag], capture_output=True, check=False)
    assert [c[:2] for c in calls(fakes["kind"])] == [["load", "image-archive"]]


@pytest.mark.parametrize(
    ("policy", "image", "expected"),
    [
        (None, IMAGE, "IfNotPresent"),
        ("Always", IMAGE, "IfNotPresent"),  # loaded into the nodes: no registry serves it
        ("Never", IMAGE, "Never"),
        ("Always", f"localhost:5001/{IMAGE}", "Always"),  # pushed: the kubelet may pull it
        ("Always", f"registry.team.example/{IMAGE}", "Always"),
    ],
)
def test_a_loaded_image_is_never_pulled_whatever_the_manifest_says(
    tmp_path: Path, policy: str | None, image: str, expected: str
) -> None:
    from devloop.core.spec import AppSpec
    from devloop.providers.kind import user_objects

    manifest = tmp_path / "k8s.yaml"
    pull = f", imagePullPolicy: {policy}" if policy else ""
    manifest.write_text(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  template:\n    spec:\n"
        f"      containers:\n      - {{name: main, image: web{pull}}}\n"
    )
    app = AppSpec(name="web", source=tmp_path, manifests=manifest)
    [deployment] = user_objects.load(app, image)
    assert deployment["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"] == expected


async def test_a_missing_tool_is_named_with_its_install_hint_not_tried_twice(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from devloop.errors import ToolMissingError

    monkeypatch.setenv("PATH", str(tmp_path))  # no k3d anywhere
    way = Delivery(on(ClusterType.K3D), "k3d-dev", containerd_platform=classic)
    with pytest.raises(ToolMissingError) as caught:
        await way.deliver(IMAGE, None, lambda _line: None)
    assert "k3d is not installed" in str(caught.value)
    assert caught.value.hint is not None and "https://k3d.io" in caught.value.hint
    assert way.failed.keys() == {Way.K3D_IMPORT}
