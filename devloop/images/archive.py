"""The workshop archive on disk: one uncompressed tar, each image streamed from `docker save`
straight into its member (hashed as it passes, never held in memory), the manifest last; and the
way back: every member's sha256 checked, then each image streamed into `docker load`.

A member's size is known only once its image is saved, so its header is written with size 0,
the data streamed after it, and the header rewritten in place (GNU format: always one 512-byte
block, base-256 sizes past 8 GB). The archive is written as NAME.partial and renamed when
complete: Ctrl-C leaves no half archive that looks whole.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import shutil
import tarfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

from devloop.adapters import proc
from devloop.core.pull import human_bytes
from devloop.errors import DevloopError
from devloop.images.workshop import MANIFEST_NAME, Item, Manifest

CHUNK = 1 << 20
Progress = Callable[[str], None]
PROGRESS_EVERY_S = 2.0


class ArchiveError(DevloopError):
    """A workshop archive that is not whole, or an image that does not save or load."""


def _header(name: str, size: int) -> bytes:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = size, 0o644, int(time.time())
    return info.tobuf(format=tarfile.GNU_FORMAT)


class Ticker:
    """`saving python:3.12-slim: 120.0 MB` every few seconds while bytes pass, then one summary."""

    def __init__(self, what: str, progress: Progress) -> None:
        self.what, self.progress = what, progress
        self.count = 0
        self.started = self.last = time.monotonic()

    def add(self, count: int) -> None:
        self.count += count
        now = time.monotonic()
        if now - self.last >= PROGRESS_EVERY_S:
            self.last = now
            self.progress(f"{self.what}: {human_bytes(self.count)}")

    def done(self, verb: str) -> None:
        took = time.monotonic() - self.started
        self.progress(f"{verb} {self.what.split(' ', 1)[-1]} ({human_bytes(self.count)}) in {took:.1f}s")


class ArchiveWriter:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.partial = path.with_name(path.name + ".partial")
        self._file: BinaryIO = open(self.partial, "wb")  # noqa: SIM115 (closed in finish/abort)

    def _member(self, name: str, chunks: Iterator[bytes] | None = None) -> tuple[str, int]:
        start = self._file.tell()
        self._file.write(_header(name, 0))
        digest, size = hashlib.sha256(), 0
        for chunk in chunks or ():
            digest.update(chunk)
            self._file.write(chunk)
            size += len(chunk)
        self._file.write(b"\0" * (-size % tarfile.BLOCKSIZE))
        end = self._file.tell()
        self._file.seek(start)
        self._file.write(_header(name, size))
        self._file.seek(end)
        return digest.hexdigest(), size

    def add_file(self, name: str, path: Path) -> tuple[str, int]:
        with open(path, "rb") as source:
            return self._member(name, iter(lambda: source.read(CHUNK), b""))

    async def add_image(self, name: str, image: str, progress: Progress) -> tuple[str, int]:
        """`docker save IMAGE` streamed into member `name`; its sha256 and size."""
        process = await asyncio.create_subprocess_exec(
            _docker(), "image", "save", image, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE, start_new_session=True,
        )  # fmt: skip
        assert process.stdout is not None and process.stderr is not None
        ticker = Ticker(f"saving {image}", progress)
        start = self._file.tell()
        self._file.write(_header(name, 0))
        digest, size = hashlib.sha256(), 0
        try:
            while chunk := await process.stdout.read(CHUNK):
                digest.update(chunk)
                self._file.write(chunk)
                size += len(chunk)
                ticker.add(len(chunk))
            errors = (await process.stderr.read()).decode(errors="replace").strip()
            code = await process.wait()
        except BaseException:
            await proc.stop(process)
            raise
        if code != 0:
            raise ArchiveError(f"`docker image save {image}` failed: {errors[-300:]}")
        self._file.write(b"\0" * (-size % tarfile.BLOCKSIZE))
        end = self._file.tell()
        self._file.seek(start)
        self._file.write(_header(name, size))
        self._file.seek(end)
        ticker.done("saved")
        return digest.hexdigest(), size

    def finish(self, manifest: Manifest) -> None:
        data = manifest.to_json().encode()
        self._member(MANIFEST_NAME, iter([data]))
        self._file.write(b"\0" * (2 * tarfile.BLOCKSIZE))  # tar's end: two empty blocks
        self._file.close()
        self.partial.replace(self.path)

    def abort(self) -> None:
        self._file.close()
        self.partial.unlink(missing_ok=True)


def _docker() -> str:
    return shutil.which("docker") or "docker"


def read_manifest(tar: tarfile.TarFile, path: Path) -> Manifest:
    try:
        member = tar.getmember(MANIFEST_NAME)
        source = tar.extractfile(member)
        assert source is not None
        return Manifest.from_json(source.read().decode())
    except (KeyError, ValueError, tarfile.TarError) as exc:
        raise ArchiveError(f"{path} is not a whole devloop workshop archive ({exc})",
                           hint="write it again with `devloop pack -o FILE`") from None  # fmt: skip


def _chunks(tar: tarfile.TarFile, item: Item) -> Iterator[bytes]:
    try:
        source = tar.extractfile(item.member)
    except KeyError:
        raise ArchiveError(f"{item.name} ({item.member}) is missing from the archive") from None
    if source is None:
        raise ArchiveError(f"{item.name} ({item.member}) is not a file in the archive")
    try:
        yield from iter(lambda: source.read(CHUNK), b"")
    except (tarfile.TarError, OSError) as exc:  # a truncated archive
        raise ArchiveError(f"{item.name} is cut short in the archive ({exc})") from None


def verify(tar: tarfile.TarFile, item: Item) -> None:
    """The item's bytes have the sha256 the manifest says, or one ArchiveError naming it."""
    digest, size = hashlib.sha256(), 0
    for chunk in _chunks(tar, item):
        digest.update(chunk)
        size += len(chunk)
    if digest.hexdigest() != item.sha256 or size != item.size:
        raise ArchiveError(
            f"{item.kind} {item.name} in the archive is corrupted: its sha256 is {digest.hexdigest()[:16]}…, "
            f"the manifest says {item.sha256[:16]}…",
            hint="copy the archive again (or write it anew with `devloop pack`)",
        )


async def load_image(tar: tarfile.TarFile, item: Item, progress: Progress) -> None:
    """The item's `docker save` stream into `docker load`."""
    process = await asyncio.create_subprocess_exec(
        _docker(), "image", "load", stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    assert process.stdin is not None and process.stdout is not None
    ticker = Ticker(f"loading {item.name}", progress)
    try:
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            for chunk in _chunks(tar, item):
                process.stdin.write(chunk)
                await process.stdin.drain()
                ticker.add(len(chunk))
            process.stdin.close()
        output = (await process.stdout.read()).decode(errors="replace").strip()
        code = await process.wait()
    except BaseException:
        await proc.stop(process)
        raise
    if code != 0:
        raise ArchiveError(f"`docker image load` of {item.name} failed: {output[-300:]}")
    ticker.done("loaded")


def _record_file() -> Path:
    from devloop.fs import state_home

    return state_home() / "workshop.json"


def record_node_image(image: str) -> None:
    """Remember the node image a workshop archive brought: kind pins its default by digest, which
    `docker load` does not keep, so a cluster devloop creates names this one by tag."""
    from devloop.fs import write_private

    write_private(_record_file(), json.dumps({"node_image": image}) + "\n")


def recorded_node_image() -> str | None:
    try:
        found = json.loads(_record_file().read_text())
    except (OSError, ValueError):
        return None
    image = found.get("node_image") if isinstance(found, dict) else None
    return str(image) if image else None
