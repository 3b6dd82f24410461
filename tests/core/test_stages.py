"""A save's stopwatch: each stage's own time, first marks only, carried into tasks and threads."""

from __future__ import annotations

import asyncio

from devloop.core import stages
from devloop.core.stages import Stopwatch


def test_each_stage_is_timed_from_the_mark_before_it() -> None:
    watch = Stopwatch(started=10.0)
    watch.mark("debounce", at=10.020)
    watch.mark("copy", at=10.025)
    watch.mark("serving", at=10.100)
    assert watch.stages() == (("debounce", 20.0), ("copy", 5.0), ("serving", 75.0))
    assert stages.total_ms(watch.stages()) == 100.0


def test_only_a_stages_first_mark_counts_the_first_instance_is_what_a_user_sees() -> None:
    watch = Stopwatch(started=0.0)
    watch.mark("copy", at=0.010)
    watch.mark("serving", at=0.050)
    watch.mark("copy", at=0.060)  # the second instance's copy
    watch.mark("done", at=0.090)
    assert watch.stages() == (("copy", 10.0), ("serving", 40.0), ("done", 40.0))


def test_a_mark_before_the_start_counts_as_nothing_not_negative() -> None:
    watch = Stopwatch(started=5.0)
    watch.mark("debounce", at=4.0)
    assert watch.stages() == (("debounce", 0.0),)


def test_marks_reach_the_stopwatch_of_the_block_from_tasks_and_threads_and_nowhere_else() -> None:
    watch = Stopwatch()

    def in_a_thread() -> None:
        stages.mark("copy")

    async def work() -> None:
        with stages.timing(watch):
            await asyncio.to_thread(in_a_thread)
            await asyncio.create_task(asyncio.to_thread(stages.mark, "reload"))
        stages.mark("outside")  # no save: ignored

    asyncio.run(work())
    assert [stage for stage, _ms in watch.stages()] == ["copy", "reload"]


def test_described_in_the_timelines_words() -> None:
    assert stages.describe((("debounce", 20.4), ("serving", 80.0))) == "100 ms (debounce 20, serving 80)"
    assert stages.describe(()) == ""
