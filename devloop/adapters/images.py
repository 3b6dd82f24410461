"""Images on the local engine before a container starts: pulled when missing (or always), with
progress, and one clear message naming the image, the registry and the reason when it fails."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from devloop.adapters.dockerapi import DockerEngine
from devloop.core.pull import PullPolicy, PullProgress, human_bytes, split_reference
from devloop.errors import DockerRefusedError, ImagePullError

Progress = Callable[[str], None]


def ensure_image(engine: DockerEngine, ref: str, policy: PullPolicy, progress: Progress) -> None:
    """The image `ref` on the engine as `policy` wants it; raises ImagePullError with the fix."""
    present = engine.image_present(ref)
    if policy is PullPolicy.NEVER:
        if not present:
            raise ImagePullError(
                f"image {ref} is not on this machine and `pull: never` is set: "
                f"run `docker pull {ref}`, or set `pull: missing`"
            )
        return
    if present and policy is PullPolicy.MISSING:
        return
    try:
        pull(engine, ref, progress)
    except ImagePullError as exc:
        if not present:
            raise
        progress(f"{exc}; using the copy on this machine")


def pull(engine: DockerEngine, ref: str, progress: Progress) -> None:
    registry, repository, tag = split_reference(ref)
    name = ref.split("@", 1)[0]
    if "@" not in ref and ":" in name.rsplit("/", 1)[-1]:
        name = name.rsplit(":", 1)[0]
    started = time.monotonic()
    state = PullProgress(ref)
    progress(f"pulling {ref} from {registry}")
    try:
        for event in engine.pull(name, tag):
            state.add(event)
            if state.error is None and state.worth_showing():
                progress(state.line())
    except DockerRefusedError as exc:
        state.error = str(exc)
    if state.error is not None:
        raise ImagePullError(f"cannot pull {repository}:{tag} from {registry}: {_reason(state.error)}")
    size = sum(total for _current, total in state.layers.values())
    took = time.monotonic() - started
    progress(f"pulled {ref} ({human_bytes(size)}) in {took:.1f}s")


def _reason(error: str) -> str:
    """The engine's error without its request plumbing, plus a hint for the common causes."""
    text = error.strip().splitlines()[0][:300]
    lowered = text.lower()
    if "not found" in lowered or "manifest unknown" in lowered:
        return f"{text} (check the name and tag)"
    if "unauthorized" in lowered or "denied" in lowered:
        return f"{text} (run `docker login` for this registry)"
    if "dial tcp" in lowered or "no such host" in lowered or "timeout" in lowered or "connection" in lowered:
        return f"{text} (the registry cannot be reached from this machine)"
    return text


async def ensure_image_off_loop(
    engine: DockerEngine, ref: str, policy: PullPolicy, progress: Progress
) -> None:
    """`ensure_image` in a worker thread, its progress lines handed back to the event loop."""
    loop = asyncio.get_running_loop()

    def report(text: str) -> None:
        loop.call_soon_threadsafe(progress, text)

    await asyncio.to_thread(ensure_image, engine, ref, policy, report)
