"""The words of devloop's [API] lines about instances and deploys, in one place and pure.

Providers report states; these functions decide what a user is told about them, so the
plain printer, the dashboard and `devloop logs` say the same thing, once, in order.
"""

from __future__ import annotations

from devloop.core.events import InstanceStatus

# Providers used to end a deploy failure with this claim, true only when an old version runs.
KEEPS_SERVING = "the previous version keeps serving"
NOTHING_SERVES = "no previous version runs: the app is down until a deploy succeeds"


def without_serving_claim(message: str) -> str:
    """A provider's deploy failure without its own (maybe untrue) claim about the old version."""
    for suffix in (f"; {KEEPS_SERVING}", f", {KEEPS_SERVING}", f" ({KEEPS_SERVING})"):
        if message.endswith(suffix):
            return message[: -len(suffix)]
    return message


def after_failure(had_previous: bool) -> str:
    """What serves after a failed build or deploy."""
    return KEEPS_SERVING if had_previous else NOTHING_SERVES


def crash_text(instance: InstanceStatus) -> str:
    """`instance 0 crashed (exit code 1)`; an OOM kill says so with the limit, as cf does."""
    if instance.oom_killed:
        limit = f" (limit {instance.memory_limit_mb}M)" if instance.memory_limit_mb else ""
        return f"instance {instance.label} crashed: out of memory{limit}"
    code = f" (exit code {instance.exit_code})" if instance.exit_code is not None else ""
    return f"instance {instance.label} crashed{code}"


def instance_changes(before: InstanceStatus | None, after: InstanceStatus) -> list[str]:
    """What happened to one instance between two looks, in order: `crash` (said once per crash;
    a stop devloop asked for is none), then `restart` by the platform."""
    changes: list[str] = []
    restarted = before is not None and after.restarts > before.restarts
    if after.state == "crashed":
        if before is None or before.state != "crashed" or restarted:
            changes.append("crash")
    elif restarted and before is not None and before.state != "crashed":
        changes.append("crash")  # the crash itself came and went between two looks
    if restarted:
        changes.append("restart")
    return changes


def instance_notes(before: InstanceStatus | None, after: InstanceStatus) -> list[str]:
    """The lines one instance's change deserves, in the order things happened."""
    restart = f"instance {after.label} restarted ({after.restarts} so far)"
    return [crash_text(after) if change == "crash" else restart for change in instance_changes(before, after)]
