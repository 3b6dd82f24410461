"""The `k3d` and `minikube` CLIs, the way images get into those clusters without a registry.

Like kind, both have no API for this; their CLIs are the interface (Skaffold and Tilt
drive them the same way): `k3d image import IMAGE|ARCHIVE -c CLUSTER` and
`minikube image load IMAGE|ARCHIVE -p PROFILE` (a path starting with `/` is read as an
archive, else the image comes from the local engine).
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from devloop.adapters import proc
from devloop.errors import ProviderError, ToolMissingError


def _find(tool: str, install: str) -> str:
    path = shutil.which(tool)
    if path is None:
        raise ToolMissingError(f"{tool} is not installed or not on PATH", hint=f"install {tool}: {install}")
    return path


_ERROR_MARKS = ("ERRO[", "FATA[", "❌", "🤷", "Error:")


def _tail(result: proc.ProcResult) -> str:
    """The tool's error lines (k3d's logrus `ERRO[0000] ...`, minikube's `❌ ...`), else its last lines."""
    lines = [line.strip() for line in result.output if line.strip()]
    errors = [line.split("] ", 1)[-1] if line[:5] in ("ERRO[", "FATA[") else line
              for line in lines if line.startswith(_ERROR_MARKS)]  # fmt: skip
    return " ".join(errors[-3:] or lines[-5:])


@dataclass(frozen=True)
class K3dCli:
    path: str

    @classmethod
    def find(cls) -> K3dCli:
        return cls(_find("k3d", "https://k3d.io/#installation"))

    async def import_image(self, cluster: str, image_or_archive: str | Path) -> None:
        """`k3d image import`: k3d saves the image (or reads the archive) into every node's containerd."""
        result = await proc.run([self.path, "image", "import", str(image_or_archive), "-c", cluster])
        if not result.ok:
            raise ProviderError(f"`k3d image import {image_or_archive} -c {cluster}` failed: {_tail(result)}")


@dataclass(frozen=True)
class MinikubeCli:
    path: str

    @classmethod
    def find(cls) -> MinikubeCli:
        return cls(_find("minikube", "https://minikube.sigs.k8s.io/docs/start/"))

    async def load_image(self, profile: str, image_or_archive: str | Path) -> None:
        """`minikube image load`: into the profile's container runtime, from the engine or an archive."""
        result = await proc.run([self.path, "image", "load", str(image_or_archive), "-p", profile])
        if not result.ok:
            raise ProviderError(
                f"`minikube image load {image_or_archive} -p {profile}` failed (exit {result.returncode}): "
                + _tail(result)
            )
