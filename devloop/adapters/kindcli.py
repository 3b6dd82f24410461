"""The `kind` CLI, the one way devloop talks to it: argv lists through adapters.proc.

kind has no API; its CLI is the interface (Tilt and ctlptl drive it the same
way). Every call here maps to one documented subcommand.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from devloop.adapters import proc
from devloop.core.versions import MIN_KIND, kind_upgrade_hint, shown
from devloop.errors import ProviderError, ToolMissingError

CREATE_WAIT = "120s"
INSTALL_HINT = (
    "install kind: https://kind.sigs.k8s.io/docs/user/quick-start/#installation;"
    " or run on plain Docker with `--provider docker` (or `provider: docker` in devloop.yaml)"
)
_VERSION_RE = re.compile(r"kind v(\d+)\.(\d+)\.(\d+)")


@dataclass(frozen=True)
class KindCli:
    path: str

    @classmethod
    def find(cls) -> KindCli:
        path = shutil.which("kind")
        if path is None:
            raise ToolMissingError("kind is not installed or not on PATH", hint=INSTALL_HINT)
        return cls(path)

    async def _run(self, *args: str, on_line: proc.LineSink | None = None) -> proc.ProcResult:
        return await proc.run([self.path, *args], on_line=on_line)

    async def version(self) -> tuple[int, int, int]:
        """kind's version; refuses one too old for the registry wiring devloop does."""
        result = await self._run("version")
        match = _VERSION_RE.search(" ".join(result.output))
        if not result.ok or match is None:
            raise ProviderError(f"`kind version` gave no version: {' '.join(result.output)[:200]}")
        found = (int(match[1]), int(match[2]), int(match[3]))
        if found < MIN_KIND:
            raise ProviderError(
                f"kind v{shown(found)} is too old; devloop needs kind v{shown(MIN_KIND)} or newer",
                hint=f"{kind_upgrade_hint()}: {INSTALL_HINT.removeprefix('install kind: ')}",
            )
        return found

    async def clusters(self) -> list[str]:
        result = await self._run("get", "clusters")
        if not result.ok:
            raise ProviderError("`kind get clusters` failed: " + " ".join(result.output[-5:]))
        # With none, kind prints "No kind clusters found." (on stderr, merged here).
        return [line.strip() for line in result.output if line.strip() and " " not in line.strip()]

    async def create(self, name: str, config: Path, on_line: proc.LineSink) -> None:
        """Create the cluster; on failure delete what kind left behind and report its output."""
        # --wait: kind returns once the control plane is Ready (its default, 0, returns before,
        # and the first pods meet the not-ready taint); on a timeout it only warns.
        result = await self._run(
            "create", "cluster", "--name", name, "--config", str(config), "--wait", CREATE_WAIT,
            on_line=on_line,
        )  # fmt: skip
        if result.ok:
            return
        await self._run("delete", "cluster", "--name", name)  # no half-made cluster stays
        tail = "\n".join(result.output[-15:])
        raise ProviderError(f"`kind create cluster --name {name}` failed:\n{tail}")

    async def kubeconfig(self, name: str) -> str:
        result = await self._run("get", "kubeconfig", "--name", name)
        if not result.ok:
            raise ProviderError(
                f"`kind get kubeconfig --name {name}` failed: " + " ".join(result.output[-5:])
            )
        return "\n".join(result.output) + "\n"

    async def nodes(self, name: str) -> list[str]:
        result = await self._run("get", "nodes", "--name", name)
        return [line.strip() for line in result.output if line.strip()] if result.ok else []

    async def load_image(self, name: str, image: str, on_line: proc.LineSink | None = None) -> None:
        result = await self._run("load", "docker-image", image, "--name", name, on_line=on_line)
        if not result.ok:
            raise ProviderError(f"`kind load docker-image {image}` failed: " + " ".join(result.output[-5:]))

    async def load_archive(self, name: str, archive: Path, on_line: proc.LineSink | None = None) -> None:
        """`kind load image-archive`: the way in when `load docker-image` cannot be (containerd store)."""
        result = await self._run("load", "image-archive", str(archive), "--name", name, on_line=on_line)
        if not result.ok:
            raise ProviderError(
                f"`kind load image-archive {archive}` failed: " + " ".join(result.output[-5:])
            )

    async def delete(self, name: str) -> None:
        result = await self._run("delete", "cluster", "--name", name)
        if not result.ok:
            raise ProviderError(
                f"`kind delete cluster --name {name}` failed: " + " ".join(result.output[-5:])
            )
