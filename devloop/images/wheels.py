"""devloop's own wheel and its dependencies' for a room with no network: `pip install --no-index
--find-links DIR devloop` installs them there.

Made offline here too: each installed dependency is packed back into the wheel it was installed
from (its files as RECORD lists them, under the tags its WHEEL file names, so a compiled one fits
the same platform only); devloop itself, when installed editable from its source, is built from
its package folder and the install's own metadata the same way.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.metadata as metadata
import json
import re
import zipfile
from pathlib import Path

from devloop.errors import DevloopError

SKIPPED = {"INSTALLER", "REQUESTED", "RECORD", "direct_url.json"}
_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")
_EXTRA = re.compile(r"extra\s*==\s*['\"]([^'\"]+)['\"]")


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def closure(root: str) -> list[metadata.Distribution]:
    """`root` and every installed distribution it requires, transitively, with the extras each
    requirement names (`markdown-it-py[linkify]`); a requirement that is not installed is one its
    markers excluded here."""
    found: dict[str, metadata.Distribution] = {}
    extras_of: dict[str, set[str]] = {}
    todo: list[tuple[str, frozenset[str]]] = [(root, frozenset())]
    while todo:
        raw, extras = todo.pop()
        name = _normal(raw)
        if name in found and extras <= extras_of[name]:
            continue
        try:
            dist = found.get(name) or metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        found[name] = dist
        extras_of.setdefault(name, set()).update(extras)
        for requirement in dist.requires or []:
            spec, _, marker = requirement.partition(";")
            wanted = _EXTRA.search(marker)
            if wanted and wanted[1] not in extras_of[name]:
                continue
            match = _NAME.match(spec)
            if match:
                named = re.search(r"\[([^\]]*)\]", spec)
                more = frozenset(e.strip() for e in named[1].split(",")) if named else frozenset()
                todo.append((match[1], more))
    return list(found.values())


def _tags(dist: metadata.Distribution) -> str:
    tags = [line.split(":", 1)[1].strip() for line in (dist.read_text("WHEEL") or "").splitlines()
            if line.startswith("Tag:")]  # fmt: skip
    if not tags:
        return "py3-none-any"
    parts = [sorted({t.split("-")[i] for t in tags}) for i in range(3)]
    return "-".join(".".join(p) for p in parts)


def _record_hash(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def editable(dist: metadata.Distribution) -> bool:
    text = dist.read_text("direct_url.json")
    return bool(text and json.loads(text).get("dir_info", {}).get("editable"))


def repack(dist: metadata.Distribution, folder: Path) -> Path:
    """The installed `dist` as a wheel in `folder`."""
    name = re.sub(r"[-.]+", "_", dist.metadata["Name"])
    wheel = folder / f"{name}-{dist.version}-{_tags(dist)}.whl"
    records: list[str] = []
    info_dir = ""
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as archive:
        for file in dist.files or []:
            path = str(file)
            if path.startswith("..") or "__pycache__" in path or path.endswith(".pyc"):
                continue  # scripts (pip makes them anew from entry_points.txt), compiled caches
            if ".dist-info/" in path:
                info_dir = path.split("/", 1)[0]
                if path.rsplit("/", 1)[-1] in SKIPPED:
                    continue
            source = Path(str(dist.locate_file(file)))
            if not source.is_file():
                continue
            data = source.read_bytes()
            archive.writestr(path, data)
            records.append(f"{path},{_record_hash(data)},{len(data)}")
        if not info_dir:
            raise DevloopError(f"{dist.metadata['Name']} is installed without a .dist-info folder")
        records.append(f"{info_dir}/RECORD,,")
        archive.writestr(f"{info_dir}/RECORD", "\n".join(records) + "\n")
    return wheel


def repack_editable(dist: metadata.Distribution, package: Path, folder: Path) -> Path:
    """An editable install as a wheel: its .dist-info (METADATA, entry points) and the files of
    `package`, the source folder the install points at (no build backend needed, no network)."""
    name = re.sub(r"[-.]+", "_", dist.metadata["Name"])
    wheel = folder / f"{name}-{dist.version}-{_tags(dist)}.whl"
    info_dir = f"{name}-{dist.version}.dist-info"
    records: list[str] = []
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as archive:
        for source in sorted(package.rglob("*")):
            if source.is_file() and "__pycache__" not in source.parts and source.suffix != ".pyc":
                path = source.relative_to(package.parent).as_posix()
                data = source.read_bytes()
                archive.writestr(path, data)
                records.append(f"{path},{_record_hash(data)},{len(data)}")
        for file in dist.files or []:
            if ".dist-info/" in str(file) and str(file).rsplit("/", 1)[-1] not in SKIPPED:
                data = Path(str(dist.locate_file(file))).read_bytes()
                path = f"{info_dir}/{str(file).rsplit('/', 1)[-1]}"
                archive.writestr(path, data)
                records.append(f"{path},{_record_hash(data)},{len(data)}")
        records.append(f"{info_dir}/RECORD,,")
        archive.writestr(f"{info_dir}/RECORD", "\n".join(records) + "\n")
    return wheel


def wheels(folder: Path, root: str = "devloop") -> list[Path]:
    """Wheels of `root` and its dependencies in `folder`."""
    made: list[Path] = []
    for dist in closure(root):
        if _normal(dist.metadata["Name"]) == root and editable(dist):
            import devloop  # the code that runs now: the source the editable install points at

            made.append(repack_editable(dist, Path(devloop.__file__).resolve().parent, folder))
        else:
            made.append(repack(dist, folder))
    return made
