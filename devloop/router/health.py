"""Health checks as Cloud Foundry defines them: port, process, http."""

from __future__ import annotations

import asyncio

from devloop.core.spec import HealthCheck, HealthCheckType
from devloop.router.net import close_writer


async def port_open(host: str, port: int, timeout: float) -> bool:
    """Something accepts connections on host:port and does not hang up at once.

    Docker's loopback proxy accepts even when nothing listens in the container,
    then closes the connection; a real listener keeps it open (or speaks first).
    """
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    except (OSError, TimeoutError):
        return False
    try:
        data = await asyncio.wait_for(reader.read(1), 0.1)
        return data != b""  # it spoke first: alive; EOF: the proxy found nobody
    except TimeoutError:
        return True  # connection held open: a listener is there
    except OSError:
        return False
    finally:
        await close_writer(writer)


async def http_ok(host: str, port: int, path: str, timeout: float) -> bool:
    """GET path answers 200-399, as a Kubernetes httpGet probe accepts."""
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    except (OSError, TimeoutError):
        return False
    try:
        request = (
            f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\n"
            "User-Agent: devloop-health\r\nConnection: close\r\n\r\n"
        )
        writer.write(request.encode())
        await writer.drain()
        status = await asyncio.wait_for(reader.readline(), timeout)
        parts = status.split()
        return len(parts) >= 2 and parts[1].isdigit() and 200 <= int(parts[1]) < 400
    except (OSError, TimeoutError):
        return False
    finally:
        await close_writer(writer)


async def check(health: HealthCheck, host: str, port: int | None) -> bool:
    """One probe; `process` checks pass while the process runs (the caller checks that)."""
    if health.type is HealthCheckType.PROCESS or port is None:
        return True
    if health.type is HealthCheckType.HTTP:
        return await http_ok(host, port, health.endpoint, health.invocation_timeout_s)
    return await port_open(host, port, health.invocation_timeout_s)
