"""The debouncer alone, on the event loop: bursts, editors' temp files, the wait cap, cancel."""

from __future__ import annotations

import asyncio

from devloop.watch.debounce import Debouncer


def collecting(quiet_s: float, max_wait_s: float = 2.0) -> tuple[Debouncer, asyncio.Queue[frozenset[str]]]:
    batches: asyncio.Queue[frozenset[str]] = asyncio.Queue()
    return Debouncer(batches.put_nowait, quiet_s=quiet_s, max_wait_s=max_wait_s), batches


async def test_a_burst_is_one_batch() -> None:
    debouncer, batches = collecting(quiet_s=0.2)
    for i in range(100):
        debouncer.add(f"f{i}.py")
    assert await asyncio.wait_for(batches.get(), 5) == {f"f{i}.py" for i in range(100)}
    assert batches.empty()


async def test_a_temp_file_written_and_renamed_within_the_burst_never_shows() -> None:
    debouncer, batches = collecting(quiet_s=0.1)
    debouncer.add("app.py.tmp", "created")
    debouncer.add("app.py.tmp", "moved_from")  # sed -i, an editor's safe write
    debouncer.add("app.py", "created")
    debouncer.add("other.py", "deleted")  # existed before the burst: its deletion counts
    assert await asyncio.wait_for(batches.get(), 5) == {"app.py", "other.py"}


async def test_a_file_that_only_came_and_went_flushes_nothing() -> None:
    debouncer, batches = collecting(quiet_s=0.05)
    debouncer.add("x.tmp", "created")
    debouncer.add("x.tmp", "deleted")
    debouncer.add("real.py")
    assert await asyncio.wait_for(batches.get(), 5) == {"real.py"}  # the first batch had only real.py


async def test_a_steady_stream_is_cut_at_max_wait() -> None:
    debouncer, batches = collecting(quiet_s=0.2, max_wait_s=0.3)
    loop = asyncio.get_running_loop()
    started = loop.time()
    i = 0
    while batches.empty() and loop.time() - started < 5:
        debouncer.add(f"f{i}")  # never quiet for quiet_s
        i += 1
        await asyncio.sleep(0.01)
    first = await asyncio.wait_for(batches.get(), 5)
    assert first and loop.time() - started < 2  # flushed although events never stopped
    debouncer.cancel()


async def test_cancel_drops_the_pending_batch() -> None:
    debouncer, batches = collecting(quiet_s=0.05)
    debouncer.add("a.py")
    debouncer.cancel()
    debouncer.add("b.py")
    assert await asyncio.wait_for(batches.get(), 5) == {"b.py"}
