"""Make sense of `docker build` output: which step runs, how long it took, what failed.

Handles BuildKit's plain progress (`#5 [2/3] RUN ...`, `#5 DONE 0.3s`, `#5 CACHED`,
`#5 ERROR: ...`) and the legacy builder (`Step 2/3 : RUN ...`). Pure: time is
passed in, so tests need no clock.
"""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass, field
from enum import StrEnum


class StepState(StrEnum):
    RUNNING = "running"
    DONE = "done"
    CACHED = "cached"
    ERROR = "error"


@dataclass
class Step:
    key: str
    name: str
    state: StepState = StepState.RUNNING
    started_at: float = 0.0
    duration_s: float | None = None


@dataclass(frozen=True)
class BuildOutput:
    """One line of a build, tagged with its app and the step it belongs to."""

    app: str
    text: str
    step: str | None = None
    kind: str = "output"  # output | detail | step | warning | result


_BK_STEP = re.compile(r"^#(\d+) (\[[^\]]+\] .*|[a-z][^\d].*)$")
_BK_DONE = re.compile(r"^#(\d+) DONE (\d+(?:\.\d+)?)s$")
_BK_CACHED = re.compile(r"^#(\d+) CACHED$")
_BK_ERROR = re.compile(r"^#(\d+) ERROR:? (.*)$")
_BK_OUTPUT = re.compile(r"^#(\d+) (\d+\.\d+) (.*)$")
_LEGACY_STEP = re.compile(r"^Step (\d+/\d+) : (.*)$")
_LEGACY_FAIL = re.compile(r"^The command '(.*)' returned a non-zero code: (\d+)")
_FATAL = re.compile(
    r"^(error: |ERROR: |failed to solve|Error response from daemon: |error checking context)(.*)$"
)


def classify_line(line: str) -> tuple[str, str]:
    """("output", text) for what a step printed; ("detail", line) for builder bookkeeping."""
    if m := _BK_OUTPUT.match(line):
        return "output", m.group(3)
    if not line.strip() or line.startswith("#") or line.startswith(" ---> "):
        return "detail", line
    return "output", line


_USER_STEP = re.compile(r"^\[(?:[\w.-]+ )?\d+/\d+\] ")


def is_user_step(name: str) -> bool:
    """A Dockerfile instruction (`[2/3] RUN ...`, `[deps 1/4] FROM ...`), not BuildKit's own work."""
    return bool(_USER_STEP.match(name))


@dataclass
class BuildLogParser:
    tail_size: int = 20
    steps: dict[str, Step] = field(default_factory=dict)
    failed_step: str | None = None
    error: str | None = None
    _legacy_current: str | None = None
    _tails: dict[str, deque[str]] = field(default_factory=dict)
    _all_tail: deque[str] = field(default_factory=lambda: deque(maxlen=40))

    def feed(self, line: str, now: float) -> list[Step]:
        """Take one line; return the steps it started or finished."""
        step = self._feed(line, now)
        if isinstance(step, list):
            return step
        return [step] if step is not None else []

    def _feed(self, line: str, now: float) -> Step | list[Step] | None:
        self._all_tail.append(line)
        if m := _BK_DONE.match(line):
            return self._finish(m.group(1), StepState.DONE, float(m.group(2)))
        if m := _BK_CACHED.match(line):
            return self._finish(m.group(1), StepState.CACHED, 0.0)
        if m := _BK_ERROR.match(line):
            step = self._finish(m.group(1), StepState.ERROR, None)
            if step is not None and is_user_step(step.name):
                self.failed_step = step.name
            self.error = m.group(2)
            return step
        if m := _BK_OUTPUT.match(line):
            self._tail(m.group(1)).append(m.group(3))
            return None
        if m := _BK_STEP.match(line):
            key, name = m.group(1), m.group(2)
            noise = ("sha256:", "transferring", "naming", "writing")
            if key not in self.steps and not name.startswith(noise):
                self.steps[key] = Step(key, name, started_at=now)
                return self.steps[key]
            return None
        if m := _LEGACY_STEP.match(line):
            finished = None
            if self._legacy_current is not None:
                finished = self._finish(self._legacy_current, StepState.DONE, None, now)
            key = m.group(1)
            self.steps[key] = Step(key, f"[{key}] {m.group(2)}", started_at=now)
            self._legacy_current = key
            return [self.steps[key]] if finished is None else [finished, self.steps[key]]
        if m := _LEGACY_FAIL.match(line):
            if self._legacy_current is not None:
                step = self._finish(self._legacy_current, StepState.ERROR, None, now)
                self.failed_step = step.name if step else None
            self.error = f"{m.group(1)} returned exit code {m.group(2)}"
            return None
        if m := _FATAL.match(line):
            self.error = (m.group(1) + m.group(2)).strip()
            return None
        if self._legacy_current is not None:
            self._tail(self._legacy_current).append(line)
        return None

    def finish_legacy(self, now: float) -> None:
        if self._legacy_current is not None and self.steps[self._legacy_current].state is StepState.RUNNING:
            self._finish(self._legacy_current, StepState.DONE, None, now)

    def _tail(self, key: str) -> deque[str]:
        if key not in self._tails:
            self._tails[key] = deque(maxlen=self.tail_size)
        return self._tails[key]

    def _finish(
        self, key: str, state: StepState, duration: float | None, now: float | None = None
    ) -> Step | None:
        step = self.steps.get(key)
        if step is None:
            return None
        step.state = state
        if duration is not None:
            step.duration_s = duration
        elif now is not None:
            step.duration_s = max(0.0, now - step.started_at)
        return step

    def failure_lines(self) -> tuple[str, ...]:
        """The failing step's last output lines, or the build's last lines."""
        if self.failed_step is not None:
            for key, step in self.steps.items():
                if step.name == self.failed_step and self._tails.get(key):
                    return tuple(self._tails[key])
        return tuple(list(self._all_tail)[-self.tail_size :])
