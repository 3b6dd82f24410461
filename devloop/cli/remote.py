"""Talking to the running `devloop up` of this project from another terminal: one typed request
over its control socket, one typed answer (a refusal becomes a UsageError)."""

from __future__ import annotations

from typing import TypeVar

from devloop.core.control import Answer, Refused, Request, Status, StatusReport
from devloop.core.spec import ProjectSpec
from devloop.engine.control import send
from devloop.errors import UsageError
from devloop.providers.shared import project_id

A = TypeVar("A", bound=Answer)


def ask(project: ProjectSpec, request: Request, expected: type[A]) -> A:
    """The running `devloop up`'s answer to `request`, of the type that request gets."""
    answer = send(project_id(project.file), request)
    if isinstance(answer, Refused):
        raise UsageError(answer.error)
    if not isinstance(answer, expected):
        raise UsageError(f"the running devloop up answered {type(answer).__name__}, not {expected.__name__}")
    return answer


def running_status(project: ProjectSpec) -> StatusReport | None:
    """The running `devloop up`'s status, or None when none runs for this project."""
    try:
        return ask(project, Status(), StatusReport)
    except UsageError:
        return None
