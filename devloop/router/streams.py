"""Small asyncio stream helpers shared by the forwarder, health checks and control socket."""

from __future__ import annotations

import asyncio
import contextlib


async def close_writer(writer: asyncio.StreamWriter) -> None:
    """Close a connection and wait for it, whatever state the peer left it in."""
    writer.close()
    with contextlib.suppress(OSError, asyncio.CancelledError):
        await writer.wait_closed()
