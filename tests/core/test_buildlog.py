from __future__ import annotations

from devloop.core.buildlog import BuildLogParser, StepState, classify_line, is_user_step

BUILDKIT_FAIL = """\
#1 [internal] load build definition from Dockerfile
#1 DONE 0.0s
#4 [1/3] FROM docker.io/library/python:3.12-slim
#4 DONE 0.0s
#5 [2/3] RUN pip install -r requirements.txt
#5 CACHED
#6 [3/3] RUN python -c 'import sys; print("boom"); sys.exit(3)'
#6 0.210 boom
#6 ERROR: executor failed running [/bin/sh -c python -c ...]: exit code: 3
------
 > [3/3] RUN python -c 'import sys; print("boom"); sys.exit(3)':
------
error: failed to solve: executor failed running [/bin/sh -c python -c ...]: exit code: 3
"""


def feed_all(text: str) -> BuildLogParser:
    parser = BuildLogParser()
    for i, line in enumerate(text.splitlines()):
        parser.feed(line, float(i))
    return parser


def test_buildkit_steps_states_and_failure() -> None:
    parser = feed_all(BUILDKIT_FAIL)
    states = {s.name: s.state for s in parser.steps.values()}
    assert states["[1/3] FROM docker.io/library/python:3.12-slim"] is StepState.DONE
    assert states["[2/3] RUN pip install -r requirements.txt"] is StepState.CACHED
    assert parser.failed_step == "[3/3] RUN python -c 'import sys; print(\"boom\"); sys.exit(3)'"
    assert parser.failure_lines() == ("boom",)
    assert parser.error is not None and "exit code: 3" in parser.error


def test_buildkit_step_duration_comes_from_done_line() -> None:
    parser = feed_all("#7 [2/2] COPY . .\n#7 DONE 1.25s\n")
    assert parser.steps["7"].duration_s == 1.25


def test_legacy_steps_are_timed_by_the_clock() -> None:
    parser = BuildLogParser()
    parser.feed("Step 1/2 : FROM python:3.12-slim", 10.0)
    parser.feed(" ---> abc123", 10.1)
    changed = parser.feed("Step 2/2 : RUN false", 12.5)
    assert [s.name for s in changed] == ["[1/2] FROM python:3.12-slim", "[2/2] RUN false"]
    assert parser.steps["1/2"].duration_s == 2.5 and parser.steps["1/2"].state is StepState.DONE
    parser.feed("oops output", 12.6)
    parser.feed("The command '/bin/sh -c false' returned a non-zero code: 1", 13.0)
    assert parser.failed_step == "[2/2] RUN false"
    assert parser.error == "/bin/sh -c false returned exit code 1"
    assert parser.failure_lines() == ("oops output",)


def test_dockerfile_parse_error_is_the_error() -> None:
    parser = feed_all(
        "#1 [internal] load build definition from Dockerfile\n"
        "failed to solve with frontend dockerfile.v0: failed to create LLB definition: "
        "dockerfile parse error line 2: unknown instruction: FORM\n"
    )
    assert parser.failed_step is None
    assert parser.error is not None and "line 2: unknown instruction: FORM" in parser.error


def test_user_steps_and_line_classes() -> None:
    assert is_user_step("[2/3] RUN x") and is_user_step("[deps 1/4] FROM y")
    assert not is_user_step("[internal] load .dockerignore") and not is_user_step("exporting to image")
    assert classify_line("#5 0.345 Collecting flask") == ("output", "Collecting flask")
    assert classify_line("#5 sha256:abc")[0] == "detail"
    assert classify_line("Step 1/2 : FROM x") == ("output", "Step 1/2 : FROM x")
