"""Run external commands the one way devloop does: argv lists, lines streamed as they come.

Cancelling the awaiting task terminates the process (its whole process group),
waits a grace period, then kills it, so no child outlives the task.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from devloop.errors import ToolMissingError

LineSink = Callable[[str], None]
TERMINATE_GRACE_S = 3.0


@dataclass(frozen=True)
class ProcResult:
    argv: tuple[str, ...]
    returncode: int
    output: tuple[str, ...]  # stdout and stderr lines, interleaved as they came

    @property
    def ok(self) -> bool:
        return self.returncode == 0


async def run(
    argv: Sequence[str],
    *,
    on_line: LineSink | None = None,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    stdin_data: bytes | None = None,
    keep_lines: int = 200,
    grace_s: float = TERMINATE_GRACE_S,
) -> ProcResult:
    """Run `argv`, calling `on_line` for each output line; keep the last `keep_lines`."""
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.PIPE if stdin_data is not None else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            env=dict(env) if env is not None else None,
            cwd=cwd,
            start_new_session=True,  # its own process group, so we can end all of it
        )
    except FileNotFoundError:
        raise ToolMissingError(f"{argv[0]} is not installed or not on PATH") from None
    tail: list[str] = []
    try:
        if stdin_data is not None:
            assert proc.stdin is not None
            writer = asyncio.create_task(_feed(proc.stdin, stdin_data))
        assert proc.stdout is not None
        async for raw in _lines(proc.stdout):
            line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
            tail.append(line)
            if len(tail) > keep_lines:
                del tail[0]
            if on_line is not None:
                on_line(line)
        if stdin_data is not None:
            await writer
        code = await proc.wait()
    except BaseException:
        await stop(proc, grace_s)
        raise
    return ProcResult(tuple(argv), code, tuple(tail))


async def _feed(stream: asyncio.StreamWriter, data: bytes) -> None:
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        stream.write(data)
        await stream.drain()
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        stream.close()


async def _lines(stream: asyncio.StreamReader) -> AsyncIterator[bytes]:
    """Lines of any length: readline() raises on lines over the buffer limit."""
    buffer = b""
    while True:
        chunk = await stream.read(65536)
        if not chunk:
            if buffer:
                yield buffer
            return
        buffer += chunk
        *complete, buffer = buffer.split(b"\n")
        for line in complete:
            yield line


async def stop(proc: asyncio.subprocess.Process, grace_s: float = TERMINATE_GRACE_S) -> None:
    """SIGTERM the process group, wait `grace_s`, then SIGKILL it; always reap."""
    if proc.returncode is not None:
        return
    _signal_group(proc.pid, signal.SIGTERM)
    try:
        await asyncio.wait_for(asyncio.shield(proc.wait()), grace_s)
    except (TimeoutError, asyncio.CancelledError):
        _signal_group(proc.pid, signal.SIGKILL)
        with contextlib.suppress(asyncio.CancelledError):
            await proc.wait()
    else:
        # The leader is gone; make sure nothing it started in its group lingers.
        _signal_group(proc.pid, signal.SIGKILL)


def _signal_group(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)
