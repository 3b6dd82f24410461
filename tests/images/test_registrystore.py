"""Pruning a real registry process (Debian's docker-registry): tags listed, digests read with the
right Accept header, the old ones deleted by digest; a registry without delete says so once.
Images go in through the registry HTTP API itself (no Docker engine needed)."""

from __future__ import annotations

import asyncio
import hashlib
import json
import urllib.request
from pathlib import Path

from devloop.images.prune import prune
from devloop.images.registrystore import RegistryStore
from tests.registry import running_registry

MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"


def _blob(address: str, repository: str, data: bytes) -> str:
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    start = urllib.request.Request(f"http://{address}/v2/{repository}/blobs/uploads/", method="POST")
    with urllib.request.urlopen(start) as answer:
        location = answer.headers["Location"]
    if location.startswith("/"):
        location = f"http://{address}{location}"
    joiner = "&" if "?" in location else "?"
    put = urllib.request.Request(f"{location}{joiner}digest={digest}", data=data, method="PUT")
    put.add_header("Content-Type", "application/octet-stream")
    urllib.request.urlopen(put).close()
    return digest


def push(address: str, repository: str, tag: str, created: str) -> str:
    """A one-layer image made `created`, pushed as `repository:tag`; its manifest digest."""
    layer = f"layer of {repository}:{tag}".encode()
    config = json.dumps({"created": created, "architecture": "amd64", "os": "linux",
                         "rootfs": {"type": "layers", "diff_ids": []}}).encode()  # fmt: skip
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": MANIFEST,
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": len(config),
                   "digest": _blob(address, repository, config)},
        "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "size": len(layer),
                    "digest": _blob(address, repository, layer)}],
    }).encode()  # fmt: skip
    request = urllib.request.Request(f"http://{address}/v2/{repository}/manifests/{tag}", data=manifest, method="PUT")
    request.add_header("Content-Type", MANIFEST)
    with urllib.request.urlopen(request) as answer:
        return str(answer.headers["Docker-Content-Digest"])


def tags_of(address: str, repository: str) -> list[str]:
    with urllib.request.urlopen(f"http://{address}/v2/{repository}/tags/list") as answer:
        return sorted(json.loads(answer.read()).get("tags") or [])


def tag(n: int) -> str:
    return f"{n:016x}"


def test_prune_keeps_the_newest_n_tags_per_app_in_a_real_registry(tmp_path: Path) -> None:
    with running_registry(tmp_path, delete=True) as address:
        digests = {n: push(address, "devloop/web", tag(n), f"2026-01-0{n}T10:00:00.123456789Z") for n in range(1, 6)}
        push(address, "devloop/web", "latest", "2026-01-01T00:00:00Z")  # not a content tag: stays
        push(address, "devloop/api", tag(7), "2026-01-01T00:00:00Z")
        store = RegistryStore(address, apps=["web", "api"])

        inventory = asyncio.run(store.inventory())
        assert {i.tag: i.id for i in inventory.images if i.app == "web" and i.tag != "latest"} == {
            tag(n): d for n, d in digests.items()
        }  # the digest the registry answers with the manifest's Accept header

        [report] = asyncio.run(prune([store], keep=2, apps=["web", "api"]))
        assert report.removal is not None and sorted(report.removal.removed) == [
            f"devloop/web:{tag(1)}", f"devloop/web:{tag(2)}", f"devloop/web:{tag(3)}"
        ]
        assert report.removal.freed > 0
        assert tags_of(address, "devloop/web") == sorted([tag(4), tag(5), "latest"])
        assert tags_of(address, "devloop/api") == [tag(7)]
        assert "removed 3 tag(s)" in report.line(dry_run=False)


def test_a_registry_without_delete_says_so_once(tmp_path: Path) -> None:
    with running_registry(tmp_path) as address:
        for n in range(1, 5):
            push(address, "devloop/web", tag(n), f"2026-01-0{n}T10:00:00Z")
        [dry] = asyncio.run(prune([RegistryStore(address)], keep=1, apps=None, dry_run=True))
        assert "would remove 3 image(s)" in dry.line(dry_run=True)
        assert len(tags_of(address, "devloop/web")) == 4  # a dry run changes nothing

        [report] = asyncio.run(prune([RegistryStore(address)], keep=1, apps=None))
        text = report.line(dry_run=False)
        assert text.count("does not allow deletes") == 1
        assert "storage: delete: enabled: true" in text
        assert len(tags_of(address, "devloop/web")) == 4
