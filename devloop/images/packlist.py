"""What a workshop room needs for the project in this folder: the base images of every app's
Dockerfile (generated or the user's), the prebuilt and service images, and for the kind provider
kind's node image and the registry image; and which of them this machine lacks, with the fix."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass

from devloop.adapters.dockerapi import DockerEngine
from devloop.build.builder import print_dockerfile
from devloop.core.spec import ProjectSpec, ProviderKind
from devloop.errors import DevloopError
from devloop.images.workshop import base_images

NODE_REPOSITORY = "kindest/node"


@dataclass(frozen=True)
class Wanted:
    image: str
    why: str  # "base image of web", "service db", "kind node", ...


def wanted_images(project: ProjectSpec, node_image: str | None) -> list[Wanted]:
    """Every image the room pulls for this project, each once, in the order `devloop up` needs them."""
    from devloop.providers.kind.registry import REGISTRY_IMAGE

    found: list[Wanted] = []

    def add(image: str, why: str) -> None:
        if image and all(w.image != image for w in found):
            found.append(Wanted(image, why))

    if project.provider is ProviderKind.KIND and project.context is None:
        if node_image:
            add(node_image, "kind node")
        add(REGISTRY_IMAGE, "kind's local registry")
    for service in project.services:
        add(service.image, f"service {service.name}")
    for app in project.apps:
        if app.image:
            add(app.image, f"app {app.name}")
            continue
        if app.build is None:
            continue
        for image in base_images(print_dockerfile(app), dict(app.build.args)):
            add(image, f"base image of {app.name}")
    return found


def node_image_of(engine: DockerEngine, cluster: str) -> str | None:
    """kind's node image as this machine has it: the running cluster's node's, else the newest
    `kindest/node` on the engine (what `kind create cluster` pulled)."""
    docker = shutil.which("docker")
    if docker is not None:
        argv = [docker, "inspect", "--format", "{{.Config.Image}}", f"{cluster}-control-plane"]
        found = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=30)
        if found.returncode == 0 and found.stdout.strip().startswith(NODE_REPOSITORY):
            return tagged(engine, found.stdout.strip())
    try:
        images = engine.disk_usage().images
    except DevloopError:
        return None
    nodes = sorted(((i.created, t) for i in images for t in i.tags if t.startswith(NODE_REPOSITORY + ":")),
                   reverse=True)  # fmt: skip
    return nodes[0][1] if nodes else None


def missing(engine: DockerEngine, wanted: list[Wanted]) -> list[str]:
    """One line per image this machine lacks, with the command that fetches it."""
    lines = []
    for item in wanted:
        if not engine.image_present(item.image):
            lines.append(f"{item.image} ({item.why}) is not on this machine: run `docker pull {item.image}`")
    return lines


def tagged(engine: DockerEngine, ref: str) -> str:
    """`kindest/node:v1.32.2@sha256:…` (kind pins its default by digest) as the tag alone, tagging
    the image so where a pull by digest left it untagged: `docker save` of the tag keeps the name,
    and `docker load` in the room brings it back (it drops digests)."""
    name = ref.split("@", 1)[0]
    if name == ref or ":" not in name.rsplit("/", 1)[-1]:
        return ref  # no digest, or no tag to name it by
    if not engine.image_present(name):
        repository, _, tag = name.rpartition(":")
        try:
            engine.tag_image(ref, repository, tag)
        except DevloopError:
            return ref
    return name
