"""The debug layer: an image devloop builds on top of an app's image for `up --debug`, so the user's
own image never carries a debugger.

For Python it adds debugpy: `FROM <app image>`, debugpy's pure-Python wheel (`py2.py3-none-any`,
one for every Python 3) unpacked into /opt/devloop/debugpy and put on PYTHONPATH. The wheel is
fetched once on the host with pip (PyPI is reachable from the host, maybe not from a build) and
kept in devloop's cache folder, user-only. The image's own start command is read here too
(`docker image inspect`), since the debugger wraps it.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import os
import shutil
import sys
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from devloop.adapters import dockercli, proc
from devloop.build.context import add_dockerfile
from devloop.core.debug import DEBUGPY_DIR, DLV_PATH, GO, PYTHON, Runtime
from devloop.errors import BuildError, ToolMissingError, UsageError
from devloop.fs import private_dir

DEBUGPY_VERSION = "1.8.22"  # pinned: the same debugger every run; bump with a test run


@dataclass(frozen=True)
class ImageConfig:
    """What an image runs and where: its id, ENTRYPOINT, CMD and WORKDIR."""

    id: str
    entrypoint: tuple[str, ...]
    cmd: tuple[str, ...]
    workdir: str


def cache_home() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "devloop"


def parse_inspect(text: str) -> ImageConfig:
    """`docker image inspect` output (a JSON list of one image) as an ImageConfig."""
    data = json.loads(text)
    image = data[0] if isinstance(data, list) else data
    config = image.get("Config") or {}
    return ImageConfig(
        id=str(image.get("Id", "")),
        entrypoint=tuple(config.get("Entrypoint") or ()),
        cmd=tuple(config.get("Cmd") or ()),
        workdir=str(config.get("WorkingDir") or ""),
    )


async def image_config(image: str) -> ImageConfig:
    """The image's id, ENTRYPOINT, CMD and WORKDIR, from the engine."""
    client = dockercli.detect()
    result = await proc.run([client.path, "image", "inspect", image])
    if not result.ok:
        raise BuildError(f"cannot read image {image}: {' '.join(result.output[-3:])}")
    return parse_inspect("\n".join(result.output))


def installed_debugpy() -> Path | None:
    """This Python's own debugpy package folder, when it is the pinned version. Its compiled
    speedups are named for this Python and machine (`*.cpython-311-x86_64-linux-gnu.so`), so
    another Python in an image skips them and runs the pure-Python code, as the wheel does."""
    try:
        from importlib import metadata, util

        if metadata.version("debugpy") != DEBUGPY_VERSION:
            return None
        spec = util.find_spec("debugpy")
    except (ImportError, ValueError):
        return None
    if spec is None or spec.origin is None:
        return None
    return Path(spec.origin).parent


async def debugpy_tree(cache: Path | None = None) -> Path:
    """The folder holding the `debugpy` package, in the cache: copied from this Python's own when it
    has the pinned version, else fetched with pip (PyPI) once."""
    root = (cache or cache_home()) / "debugpy" / DEBUGPY_VERSION
    if (root / "debugpy" / "__main__.py").is_file():
        return root
    local = installed_debugpy()
    if local is not None:
        await asyncio.to_thread(_copy_tree, local, root)
        return root
    with tempfile.TemporaryDirectory(prefix="devloop-debugpy-") as tmp:
        argv = [sys.executable, "-m", "pip", "download", f"debugpy=={DEBUGPY_VERSION}", "--no-deps",
                "--only-binary=:all:", "--platform", "any", "--disable-pip-version-check",
                "-d", tmp]  # fmt: skip
        try:
            result = await proc.run(argv)
        except ToolMissingError:
            result = None
        wheels = sorted(Path(tmp).glob("debugpy-*-none-any.whl"))
        if result is None or not result.ok or not wheels:
            last = " ".join(result.output[-2:]) if result is not None else "pip is not installed"
            raise BuildError(
                f"cannot fetch debugpy {DEBUGPY_VERSION} with pip: {last}",
                last_lines=result.output[-10:] if result is not None else (),
            )
        unpacked = Path(tmp) / "tree"
        await asyncio.to_thread(_unzip, wheels[0], unpacked)
        private_dir(root.parent)
        if not (root / "debugpy" / "__main__.py").is_file():
            os.replace(unpacked, root)  # atomic: a second devloop never sees half a tree
    return root


def _copy_tree(package: Path, root: Path) -> None:
    private_dir(root.parent)
    staging = root.parent / f".{root.name}.{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    shutil.copytree(package, staging / "debugpy", ignore=shutil.ignore_patterns("__pycache__"))
    os.chmod(staging, 0o700)
    if not (root / "debugpy" / "__main__.py").is_file():
        os.replace(staging, root)  # atomic: a second devloop never sees half a tree
    shutil.rmtree(staging, ignore_errors=True)


def _unzip(wheel: Path, into: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        for member in archive.namelist():
            if member.startswith("debugpy/"):
                archive.extract(member, into)
    os.chmod(into, 0o700)


def python_dockerfile(image: str) -> str:
    """debugpy on top of `image`, importable whatever PYTHONPATH the image sets."""
    return (
        f"FROM {image}\n"
        f"COPY debugpy {DEBUGPY_DIR}/debugpy\n"
        f"ENV PYTHONPATH={DEBUGPY_DIR}${{PYTHONPATH:+:$PYTHONPATH}}\n"
    )


def context_tar(tree: Path, dockerfile: str, member: str = "debugpy") -> bytes:
    """The debug layer's build context: the Dockerfile and `member` of `tree` (the debugpy package,
    the dlv binary), world-readable in the image whatever user the app runs as."""
    buffer = io.BytesIO()

    def readable(info: tarfile.TarInfo) -> tarfile.TarInfo:
        info.uid = info.gid = 0
        info.uname = info.gname = "root"
        info.mode = 0o755 if info.isdir() or info.mode & 0o100 else 0o644
        return info

    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.GNU_FORMAT) as tar:
        tar.add(tree / member, arcname=member, filter=readable)
        add_dockerfile(tar, dockerfile)
    return buffer.getvalue()


def layer_tag(app: str, image_id: str, tool: str = "debugpy") -> str:
    version = DEBUGPY_VERSION if tool == "debugpy" else tool
    digest = hashlib.sha256(f"{image_id}/{tool}-{version}".encode()).hexdigest()[:16]
    return f"devloop-debug/{app}:{digest}"


async def debug_image(runtime: Runtime, app: str, image: str, image_id: str) -> str:
    """The image the app's debugged instances run: a debug layer for Python (debugpy) and Go (dlv);
    Node and Java carry their debugger in the runtime, so their image as it is."""
    if runtime is PYTHON:
        return await python_layer(app, image, image_id)
    if runtime is GO:
        return await go_layer(app, image, image_id)
    return image


def host_dlv() -> Path:
    """This machine's `dlv`, if it can run in any image (a static binary); else one message."""
    found = shutil.which("dlv")
    how = "CGO_ENABLED=0 go install github.com/go-delve/delve/cmd/dlv@latest"
    if found is None:
        raise UsageError("Go apps are debugged under Delve, and `dlv` is not on PATH",
                         hint=f"install it: {how}")  # fmt: skip
    with open(found, "rb") as binary:
        head = binary.read(4096)
    if b"ld-linux" in head or b"ld-musl" in head:  # an ELF interpreter: it needs the host's libc
        raise UsageError(f"{found} is linked against the host's libc; images may have none",
                         hint=f"install a static dlv: {how}")  # fmt: skip
    return Path(found)


def go_dockerfile(image: str) -> str:
    return f"FROM {image}\nCOPY dlv {DLV_PATH}\n"


async def go_layer(app: str, image: str, image_id: str) -> str:
    """The app's image with the host's static `dlv` added; its tag."""
    dlv = host_dlv()
    version = hashlib.sha256(await asyncio.to_thread(dlv.read_bytes)).hexdigest()[:12]  # new dlv, new layer
    with tempfile.TemporaryDirectory(prefix="devloop-dlv-") as tmp:
        shutil.copy2(dlv, Path(tmp) / "dlv")
        dockerfile = go_dockerfile(image)
        return await _build_layer(app, image, image_id, Path(tmp), "dlv", dockerfile, f"dlv-{version}")


async def python_layer(app: str, image: str, image_id: str, cache: Path | None = None) -> str:
    """The app's image with debugpy added (built once per app image); its tag."""
    return await _build_layer(app, image, image_id, None, "debugpy", python_dockerfile(image), "debugpy",
                              cache)  # fmt: skip


async def _build_layer(
    app: str, image: str, image_id: str, tree: Path | None, member: str, dockerfile: str, tool: str,
    cache: Path | None = None,
) -> str:  # fmt: skip
    client = dockercli.detect()
    tag = layer_tag(app, image_id or image, tool)
    present = await proc.run([client.path, "image", "inspect", "--format", "{{.Id}}", tag])
    if present.ok:
        return tag
    if tree is None:
        tree = await debugpy_tree(cache)
    data = await asyncio.to_thread(context_tar, tree, dockerfile, member)
    argv = [*client.build_argv(), "-t", tag, "--label", f"devloop.app={app}", "-"]
    result = await proc.run(argv, env=client.build_env(), stdin_data=data)
    if not result.ok:
        raise BuildError(f"{app}: the debug layer did not build", last_lines=result.output[-10:])
    return tag
