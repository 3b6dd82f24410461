"""Image pull policy and the engine's pull progress in a few readable lines. Pure.

Docker's pull stream is one JSON object per layer event (`Pulling fs layer`, `Downloading`
with byte counts, `Pull complete`, ...). Shown raw it is hundreds of lines; a user wants to
know that something is happening, how much, and what went wrong.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class PullPolicy(StrEnum):
    """When an image is pulled, as Compose's `pull_policy` and Kubernetes' `imagePullPolicy`."""

    MISSING = "missing"  # only when it is not on this machine (the default)
    ALWAYS = "always"  # before every start, so a moving tag is followed
    NEVER = "never"  # never: the image must be there already


def split_reference(ref: str) -> tuple[str, str, str]:
    """(registry, repository, tag or digest) of an image reference, as Docker reads it."""
    name, _, digest = ref.partition("@")
    last = name.rsplit("/", 1)[-1]
    tag = ""
    if ":" in last:
        name, tag = name.rsplit(":", 1)
    first, _, rest = name.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        registry, repository = first, rest
    else:
        registry, repository = "docker.io", name if rest else f"library/{name}"
    return registry, repository, digest or tag or "latest"


def human_bytes(count: int) -> str:
    size = float(count)
    for unit in ("B", "kB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    raise AssertionError("unreachable")


@dataclass
class PullProgress:
    """Folds the pull stream's events; `line()` says where it stands, `error` what failed."""

    ref: str
    layers: dict[str, tuple[int, int]] = field(default_factory=dict)  # id -> (current, total)
    done: set[str] = field(default_factory=set)
    error: str | None = None
    _last_shown: int = -1

    def add(self, event: dict[str, object]) -> None:
        if "error" in event:
            detail = event.get("errorDetail")
            message = detail.get("message") if isinstance(detail, dict) else None
            self.error = str(message or event["error"])
            return
        layer, status = event.get("id"), str(event.get("status", ""))
        if not isinstance(layer, str) or layer == self.ref.rsplit(":", 1)[-1]:
            return  # a line about the image as a whole ("Pulling from library/redis")
        detail = event.get("progressDetail")
        if status in ("Pull complete", "Already exists"):
            self.done.add(layer)
            current, total = self.layers.get(layer, (0, 0))
            self.layers[layer] = (total or current, total or current)
        elif status == "Downloading" and isinstance(detail, dict):
            got, size = detail.get("current"), detail.get("total")
            if isinstance(got, int) and isinstance(size, int):
                self.layers[layer] = (got, size)
        else:
            self.layers.setdefault(layer, (0, 0))

    def line(self) -> str:
        got = sum(current for current, _total in self.layers.values())
        total = sum(total for _current, total in self.layers.values())
        size = f", {human_bytes(got)} of {human_bytes(total)}" if total else ""
        return f"pulling {self.ref}: {len(self.done)}/{len(self.layers)} layer(s){size}"

    def worth_showing(self) -> bool:
        """True at each new tenth of the layers done, so a pull says a few lines, not hundreds."""
        if not self.layers:
            return False
        step = len(self.done) * 10 // len(self.layers)
        if step == self._last_shown:
            return False
        self._last_shown = step
        return True
