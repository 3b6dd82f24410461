"""`devloop export`: the Kubernetes objects devloop would apply, as files to keep in a repository.

Formats: `yaml` (one file per object), `kustomize` (a base with every object
and an overlay that sets the image tags), `helm` (a minimal chart whose values
hold each app's image and replicas). Secret values are placeholders, never the
real ones.
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import click
import yaml

from devloop.adapters import dockersdk
from devloop.build.builder import ImageBuilder, image_repository
from devloop.cli.context import CliContext, config_options
from devloop.core.credentials import split_credentials
from devloop.core.spec import AppSpec, ProjectSpec
from devloop.errors import BuildContextError, UsageError
from devloop.providers.kind.objects import SECRET_PLACEHOLDER, Obj, app_objects
from devloop.providers.kind.service_objects import (
    PRODUCTION_NOTE,
    binding_secret,
    is_backing_service,
    read_bindings,
    service_objects,
)
from devloop.providers.shared import project_id

FORMATS = ("yaml", "kustomize", "helm")
HEADER = "# Written by `devloop export`. Secret values are placeholders: set them before applying.\n"


@click.command("export")
@config_options
@click.option("-o", "--output", type=click.Path(path_type=Path), default=Path("k8s"), show_default=True)
@click.option(
    "--format", "fmt", type=click.Choice(["yaml", "kustomize", "helm"]), default="yaml", show_default=True
)
@click.option("--autoscale", is_flag=True,
              help="Add a HorizontalPodAutoscaler for apps with more than one instance.")  # fmt: skip
def export_command(config: CliContext, output: Path, fmt: str, autoscale: bool) -> None:
    """Write the Kubernetes objects devloop would apply (yaml, kustomize or helm)."""
    project = config.load()
    planner = ImageBuilder(None)
    images = {app.name: app.image or _export_image(planner, app) for app in project.apps}
    written = write(project, images, project_id(project.file), output, fmt, autoscale)
    for notice in credential_notices(project):
        click.echo(f"warning: {notice}", err=True)
    click.echo(f"wrote {len(written)} file(s) to {output} ({fmt}); secret values are placeholders")


def _export_image(planner: ImageBuilder, app: AppSpec) -> str:
    """The image an app's objects name: its content tag, or a placeholder while it cannot be built yet."""
    try:
        return pinned(planner.plan(app).image)
    except BuildContextError:
        click.echo(f"warning: {app.name} cannot be built yet; its objects name the image "
                   f"{image_repository(app.name)}:unbuilt (see `devloop validate`)", err=True)  # fmt: skip
        return f"{image_repository(app.name)}:unbuilt"


def pinned(image: str) -> str:
    """repository@digest when the local engine knows the image's registry digest, else the tag."""
    try:
        digests = dockersdk.open_engine(timeout=2).repo_digests(image)
    except Exception:  # no engine, or not built yet: the content tag is exact enough
        return image
    return str(digests[0]) if digests else image


def image_for(app: AppSpec, planned: dict[str, str]) -> str:
    return app.image or planned[app.name]


def credentials_moved(app: AppSpec) -> tuple[AppSpec, tuple[str, ...]]:
    """The app with the `env:` values that carry credentials (a URL with a password, names like
    `*_PASSWORD`, `*_TOKEN`) moved to its secret env, so the export puts them in the Secret as
    placeholders, never in the ConfigMap in clear; and their names. The dev loop is unchanged."""
    plain, names = split_credentials(app.env)
    if not names:
        return app, ()
    moved = tuple((k, v) for k, v in app.env if k in names and k not in dict(app.secret_env))
    return replace(app, env=plain, secret_env=(*app.secret_env, *moved)), names


def credential_notices(project: ProjectSpec) -> list[str]:
    """One notice per app whose `env:` holds credentials, naming them."""
    notices = []
    for app in project.apps:
        _moved, names = credentials_moved(app)
        if names:
            notices.append(
                f"{app.name}: {', '.join(names)} look like credentials: exported into the Secret "
                f"{app.name}-secrets with placeholders, not the ConfigMap; set them before applying"
            )
    return notices


def objects_for(
    project: ProjectSpec, images: dict[str, str], project_id: str, autoscale: bool = False
) -> list[tuple[AppSpec, Obj]]:
    """Each app's objects (with its binding Secret), then each backing service's."""
    placeholders = {s.name: SECRET_PLACEHOLDER for s in project.services}
    items: list[tuple[AppSpec, Obj]] = []
    for app in (credentials_moved(a)[0] for a in project.apps):
        objects = app_objects(
            app, images[app.name], project=project_id, secret_values=False, autoscale=autoscale
        )
        bound = [project.service(name) for name in app.services]
        if bound:
            objects = read_bindings(objects, app.name)
            objects.insert(0, binding_secret(app.name, bound, placeholders, project_id))
        items += [(app, obj) for obj in objects]
    for service in project.services:
        owner = next((a for a in project.apps if service.name in a.services), project.apps[0])
        items += [(owner, obj) for obj in service_objects(service, SECRET_PLACEHOLDER, project_id)]
    return items


def file_name(index: int, obj: Obj) -> str:
    return f"{index:02d}-{obj['kind'].lower()}-{obj['metadata']['name']}.yaml"


class _NoAliases(yaml.SafeDumper):
    """Every block written out in full: an object shared by two probes is no `&id001`/`*id001`."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def dump(obj: Any) -> str:
    return yaml.dump(obj, Dumper=_NoAliases, sort_keys=False, default_flow_style=False)


def write(
    project: ProjectSpec,
    images: dict[str, str],
    project_id: str,
    out: Path,
    fmt: str,
    autoscale: bool = False,
) -> list[Path]:
    items = objects_for(project, images, project_id, autoscale)
    if out.exists() and not out.is_dir():
        raise UsageError(f"-o {out} is a file; export writes a folder of YAML files", hint="name a folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
        if fmt == "yaml":
            return _write_files(out, items)
        if fmt == "kustomize":
            return _write_kustomize(out, items, images)
        if fmt == "helm":
            return _write_helm(project, out, items, images)
    except OSError as exc:  # a read-only or full disk, a parent that is a file
        where = exc.filename or out
        raise UsageError(f"cannot write the export to {out}: {where}: {exc.strerror}") from None
    raise ValueError(fmt)


def _write_files(folder: Path, items: list[tuple[AppSpec, Obj]]) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for index, (_app, obj) in enumerate(items, start=1):
        path = folder / file_name(index, obj)
        note = PRODUCTION_NOTE if is_backing_service(obj) else ""
        path.write_text(HEADER + note + dump(obj), encoding="utf-8")
        written.append(path)
    return written


def _split_image(image: str) -> tuple[str, str | None]:
    if "@" in image:
        return image.split("@", 1)[0], None
    name, sep, tag = image.rpartition(":")
    return (name, tag) if sep and "/" not in tag else (image, None)


def _write_kustomize(out: Path, items: list[tuple[AppSpec, Obj]], images: dict[str, str]) -> list[Path]:
    base = out / "base"
    files = _write_files(base, items)
    kustomization = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": [p.name for p in files],
    }
    (base / "kustomization.yaml").write_text(HEADER + dump(kustomization), encoding="utf-8")
    overlay = out / "overlays" / "dev"
    overlay.mkdir(parents=True, exist_ok=True)
    entries = []
    for image in sorted(set(images.values())):
        name, tag = _split_image(image)
        if tag is not None:
            entries.append({"name": name, "newTag": tag})
        elif "@" in image:
            entries.append({"name": name, "digest": image.split("@", 1)[1]})
    overlay_doc = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": ["../../base"],
        "images": entries,
    }
    (overlay / "kustomization.yaml").write_text(
        "# Change image tags here to deploy another build.\n" + dump(overlay_doc), encoding="utf-8"
    )
    return [*files, base / "kustomization.yaml", overlay / "kustomization.yaml"]


def _write_helm(
    project: ProjectSpec, out: Path, items: list[tuple[AppSpec, Obj]], images: dict[str, str]
) -> list[Path]:
    name = re.sub(r"[^a-z0-9-]+", "-", project.file.resolve().parent.name.lower()).strip("-") or "app"
    chart = out / name
    templates = chart / "templates"
    templates.mkdir(parents=True, exist_ok=True)
    (chart / "Chart.yaml").write_text(
        dump(
            {
                "apiVersion": "v2",
                "name": name,
                "description": f"{name}, exported by devloop",
                "type": "application",
                "version": "0.1.0",
                "appVersion": "0.1.0",
            }
        ),
        encoding="utf-8",
    )
    values = {
        "apps": {app.name: {"image": images[app.name], "replicas": app.instances} for app in project.apps}
    }
    (chart / "values.yaml").write_text(HEADER + dump(values), encoding="utf-8")
    written = [chart / "Chart.yaml", chart / "values.yaml"]
    for index, (app, obj) in enumerate(items, start=1):
        text = dump(obj)
        ref = f'(index .Values.apps "{app.name}")'
        text = text.replace(f"image: {images[app.name]}\n", f"image: {{{{ {ref}.image | quote }}}}\n")
        if obj["kind"] == "Deployment" and obj["metadata"]["name"] == app.name:
            text = text.replace(f"replicas: {app.instances}\n", f"replicas: {{{{ {ref}.replicas }}}}\n", 1)
        path = templates / file_name(index, obj)
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written
