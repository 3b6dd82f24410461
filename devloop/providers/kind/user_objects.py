"""The user's own Kubernetes YAML for an app (a file, a folder, or a kustomize folder).

devloop applies it as written and only swaps in the freshly built image: in
every pod template, a container whose image names the app (`web`, `web:1.2`,
`registry.example.com/team/web@sha256:...`) runs the new content tag instead.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import yaml

from devloop.core.spec import AppSpec
from devloop.errors import ProviderError, ToolMissingError

Obj = dict[str, Any]
WORKLOADS = ("Deployment", "StatefulSet", "DaemonSet")


def _read(path: Path) -> str:
    if path.is_dir() and (path / "kustomization.yaml").exists():
        kustomize = shutil.which("kustomize")
        if kustomize is None:
            raise ToolMissingError(
                f"{path} is a kustomize folder and kustomize is not on PATH",
                hint="install kustomize: https://kubectl.docs.kubernetes.io/installation/kustomize/",
            )
        done = subprocess.run([kustomize, "build", str(path)], capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise ProviderError(f"`kustomize build {path}` failed: {done.stderr.strip()[:300]}")
        return done.stdout
    if path.is_dir():
        files = sorted([*path.glob("*.yaml"), *path.glob("*.yml")])
        return "\n---\n".join(f.read_text() for f in files)
    if not path.exists():
        raise ProviderError(f"{path}: the manifests named in the config do not exist")
    return path.read_text()


def names_app(image: str, app: str) -> bool:
    """Whether a container image reference is the app's own image (any registry, tag or digest)."""
    repository = image.split("@", 1)[0]
    last = repository.rsplit("/", 1)[-1]
    return last.split(":", 1)[0] == app


def load(app: AppSpec, image: str) -> list[Obj]:
    assert app.manifests is not None
    path = app.manifests
    try:
        documents = [d for d in yaml.safe_load_all(_read(path)) if d]
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = (
            f"{path}:{mark.line + 1}:{mark.column + 1}" if mark is not None and path.is_file() else str(path)
        )
        problem = getattr(exc, "problem", None) or str(exc)
        raise ProviderError(f"{where}: the manifest does not parse: {problem}") from None
    swapped = 0
    for doc in documents:
        if not isinstance(doc, dict) or "kind" not in doc or "apiVersion" not in doc:
            raise ProviderError(f"{path}: every document needs `apiVersion` and `kind`")
        if doc["kind"] in WORKLOADS:
            containers = doc.get("spec", {}).get("template", {}).get("spec", {}).get("containers") or []
            for container in containers:
                if names_app(str(container.get("image", "")), app.name):
                    container["image"] = image
                    # An image loaded into the nodes (or on a shared engine) is in no registry: a
                    # user's `Always` would make the kubelet pull a tag nobody serves. `Never` stays.
                    if "imagePullPolicy" not in container or (
                        container["imagePullPolicy"] == "Always" and not in_a_registry(image)
                    ):
                        container["imagePullPolicy"] = "IfNotPresent"
                    swapped += 1
    if not swapped:
        raise ProviderError(
            f"{path}: no Deployment has a container whose image is {app.name!r}",
            hint=f"set the app's container to `image: {app.name}`; devloop puts the built image there",
        )
    return documents


def in_a_registry(image: str) -> bool:
    """Whether `image` names a registry host (`localhost:5001/devloop/web:abc`), as Docker parses
    it; devloop's own `devloop/web:abc` names none: it was loaded into the nodes, not pushed."""
    first, slash, _ = image.partition("/")
    return bool(slash) and ("." in first or ":" in first or first == "localhost")


def privilege_warnings(objects: list[Obj]) -> list[str]:
    """What in the user's pod templates runs as root or may gain privileges (a warning each)."""
    warnings = []
    for obj in objects:
        spec = ((obj.get("spec") or {}).get("template") or {}).get("spec") or {}
        pod_context = spec.get("securityContext") or {}
        name = f"{obj.get('kind')}/{(obj.get('metadata') or {}).get('name')}"
        for container in [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]:
            context = {**pod_context, **(container.get("securityContext") or {})}
            where = f"{name} container {container.get('name')}"
            if context.get("privileged"):
                warnings.append(f"{where} is privileged")
            if context.get("runAsUser") == 0 or context.get("runAsNonRoot") is False:
                warnings.append(f"{where} runs as root")
            elif not context.get("runAsNonRoot") and "runAsUser" not in context:
                warnings.append(f"{where} sets no runAsNonRoot or runAsUser: it runs as the image's user")
            if context.get("allowPrivilegeEscalation", True) is not False:
                warnings.append(f"{where} does not set allowPrivilegeEscalation: false")
    return warnings
