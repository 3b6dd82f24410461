"""Loopback networking helpers: the one place devloop picks a port, and a safe stream close."""

from __future__ import annotations

import asyncio
import contextlib
import socket


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    """Whether a listener could bind `port` now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # As asyncio.start_server binds: leftover TIME_WAIT connections do not block a listener.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def free_port(preferred: int, host: str = "127.0.0.1", span: int = 100) -> int:
    """`preferred` if it can be bound, else the next free port above it."""
    for port in range(preferred, min(preferred + span, 65536)):
        if port_is_free(port, host):
            return port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


async def close_writer(writer: asyncio.StreamWriter) -> None:
    """Close a connection and wait for it, whatever state the peer left it in."""
    writer.close()
    with contextlib.suppress(OSError, asyncio.CancelledError):
        await writer.wait_closed()
