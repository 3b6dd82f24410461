"""`devloop pack` and `devloop unpack`: one archive with everything a workshop room needs for the
project in this folder (kind's node and registry images, every base image, the service images,
devloop's wheels), so `devloop up` there needs no network; what is missing is said before anything
is written, and every item's checksum is checked before anything is loaded."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import click

from devloop import __version__
from devloop.adapters import dockersdk
from devloop.cli.context import CliContext, config_options
from devloop.core.pull import human_bytes
from devloop.core.spec import ProviderKind
from devloop.errors import DevloopError, UsageError
from devloop.images import archive
from devloop.images.packlist import NODE_REPOSITORY, Wanted, missing, node_image_of, wanted_images
from devloop.images.wheels import wheels
from devloop.images.workshop import Item, Manifest, member_name


def say(text: str) -> None:
    click.echo(text, err=True)


@click.command("pack")
@config_options
@click.option("-o", "--output", type=click.Path(path_type=Path, dir_okay=False), required=True,
              help="The archive to write (e.g. workshop.tar).")
@click.option("--node-image", help="kind's node image to pack (default: the one this machine's kind uses).")
@click.option("--no-wheels", is_flag=True, help="Leave devloop's own wheels out (the room has devloop).")
def pack_command(config: CliContext, output: Path, node_image: str | None, no_wheels: bool) -> None:
    """Write one archive of the images and wheels a room with no network needs for this project."""
    project = config.load()
    engine = dockersdk.open_engine()
    try:
        kind = project.provider is ProviderKind.KIND and project.context is None
        if kind and node_image is None:
            node_image = node_image_of(engine, project.cluster)
        wanted = wanted_images(project, node_image)
        lacking = missing(engine, wanted)
    finally:
        engine.close()
    if kind and node_image is None:
        lacking.insert(0, f"kind's node image ({NODE_REPOSITORY}) is not on this machine: run `devloop up` "
                          "once with network (kind pulls it), or pass --node-image IMAGE")  # fmt: skip
    if lacking:
        raise UsageError("the archive would miss " + str(len(lacking)) + " image(s), nothing written:\n  "
                         + "\n  ".join(lacking))  # fmt: skip
    say(f"packing {len(wanted)} image(s) for {project.file}: " + ", ".join(w.image for w in wanted))
    writer = archive.ArchiveWriter(output)
    try:
        items = asyncio.run(_write(writer, wanted, no_wheels))
        where, provider = str(project.file), project.provider.value
        writer.finish(Manifest(where, provider, __version__, tuple(items), node_image))
    except BaseException:
        writer.abort()
        raise
    images = sum(1 for i in items if i.kind == "image")
    size = human_bytes(output.stat().st_size)
    click.echo(f"wrote {output} ({size}): {images} image(s), {len(items) - images} wheel(s)")


async def _write(writer: archive.ArchiveWriter, wanted: list[Wanted], no_wheels: bool) -> list[Item]:
    items: list[Item] = []
    for index, item in enumerate(wanted):
        member = member_name("image", index, item.image)
        digest, size = await writer.add_image(member, item.image, say)
        items.append(Item("image", item.image, member, digest, size, (item.image,)))
    if not no_wheels:
        with tempfile.TemporaryDirectory(prefix="devloop-wheels-") as folder:
            say("packing devloop's wheels and its dependencies'")
            for wheel in await asyncio.to_thread(wheels, Path(folder)):
                member = member_name("wheel", 0, wheel.name)
                digest, size = writer.add_file(member, wheel)
                items.append(Item("wheel", wheel.name, member, digest, size))
    return items


@click.command("unpack")
@click.argument("path", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--wheels-dir", type=click.Path(path_type=Path, file_okay=False),
              help="Where devloop's wheels go (default: NAME-wheels beside the archive).")
@click.option("--install", is_flag=True, help="Also install devloop from its wheels (pip, no network).")
def unpack_command(path: Path, wheels_dir: Path | None, install: bool) -> None:
    """Check a workshop archive, load its images into the engine; print how to install its wheels."""
    try:
        tar = tarfile.open(path, "r:")  # noqa: SIM115 (the `with` below closes it)
    except (OSError, tarfile.TarError) as exc:
        raise UsageError(f"cannot read {path}: {exc}", hint="give the file `devloop pack -o` wrote") from None
    with tar:
        manifest = archive.read_manifest(tar, path)
        say(f"checking {len(manifest.items)} item(s) of {path}")
        for item in manifest.items:
            archive.verify(tar, item)
        images = [i for i in manifest.items if i.kind == "image"]
        for item in images:
            asyncio.run(archive.load_image(tar, item, say))
        if manifest.node_image:
            archive.record_node_image(manifest.node_image)
        wheel_items = [i for i in manifest.items if i.kind == "wheel"]
        folder = wheels_dir or path.with_name(path.stem + "-wheels")
        if wheel_items:
            folder.mkdir(parents=True, exist_ok=True)
            for item in wheel_items:
                source = tar.extractfile(item.member)
                assert source is not None
                with open(folder / Path(item.member).name, "wb") as target:
                    shutil.copyfileobj(source, target)
    click.echo(f"loaded {len(images)} image(s) into the engine: " + ", ".join(i.name for i in images))
    if manifest.node_image:
        click.echo(f"a kind cluster devloop creates uses {manifest.node_image} (loaded, by tag)")
    if wheel_items:
        command = [sys.executable, "-m", "pip", "install", "--no-index", "--find-links", str(folder)]
        command.append("devloop")
        if install:
            if subprocess.run(command, check=False).returncode != 0:
                raise DevloopError("installing devloop from the archive's wheels failed (pip said why above)")
            click.echo(f"installed devloop from {folder}")
        else:
            shown = " ".join(command)
            click.echo(f"{len(wheel_items)} wheel(s) in {folder}; install devloop with:\n  {shown}")
