"""Many concurrent HTTP clients in a process of their own, so their work shares no GIL with the server under test.

`python -m tests.burst PORT HOST_HEADER CONNECTIONS` keeps CONNECTIONS keep-alive
connections busy (each reconnects when the server closes it) until its stdin
closes, printing a running total every 0.2 s and, at the end, one JSON line with
every outcome: `200 BODY`, `503`, or the failure (`timeout`, `reset`, `status N`).
A request that takes longer than REQUEST_S is a timeout.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
from collections import Counter
from dataclasses import dataclass, field

REQUEST_S = 30.0  # 6x the router's own limit (RETRY_FOR_S): under a starved CPU an answer is late, never missing


@dataclass
class Outcomes:
    counts: Counter[str] = field(default_factory=Counter)
    slowest_s: float = 0.0

    def total(self) -> int:
        return sum(self.counts.values())


async def _request(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, host: str
) -> tuple[int, bytes, bool]:
    """(status, body, server keeps the connection) of one GET /."""
    writer.write(f"GET / HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {
        k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)
    }
    if "content-length" in headers:
        body = await reader.readexactly(int(headers["content-length"]))
    else:
        body = await reader.read()  # read until close
    connection = headers.get("connection", "").lower()
    persistent = connection == "keep-alive" if lines[0].startswith("HTTP/1.0") else connection != "close"
    keep = persistent and "content-length" in headers
    return status, body, keep


async def _client(port: int, host: str, outcomes: Outcomes, stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    connection: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
    while not stop.is_set():
        started = loop.time()
        try:
            async with asyncio.timeout(REQUEST_S):
                if connection is None:
                    connection = await asyncio.open_connection("127.0.0.1", port)
                status, body, keep = await _request(*connection, host)
        except TimeoutError:
            outcome, keep = "timeout", False
        except (OSError, asyncio.IncompleteReadError, ValueError, IndexError) as exc:
            outcome, keep = f"reset ({type(exc).__name__})", False
        else:
            if status == 200:
                outcome = f"200 {body.decode(errors='replace').strip()}"
            else:
                outcome = "503" if status == 503 else f"status {status}"
        outcomes.counts[outcome] += 1
        outcomes.slowest_s = max(outcomes.slowest_s, loop.time() - started)
        if not keep and connection is not None:
            connection[1].close()
            connection = None
    if connection is not None:
        connection[1].close()


async def _main(port: int, host: str, connections: int) -> None:
    outcomes = Outcomes()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    threading.Thread(
        target=lambda: (sys.stdin.read(), loop.call_soon_threadsafe(stop.set)), daemon=True
    ).start()
    clients = [asyncio.create_task(_client(port, host, outcomes, stop)) for _ in range(connections)]
    while not stop.is_set():
        print(f"total {outcomes.total()}", flush=True)
        await asyncio.wait([asyncio.ensure_future(stop.wait())], timeout=0.2)
    await asyncio.gather(*clients)
    print(json.dumps({"counts": dict(outcomes.counts), "slowest_s": outcomes.slowest_s}), flush=True)


class Burst:
    """The clients as a subprocess: `total()` while they run, `finish()` for the outcomes."""

    def __init__(self, port: int, host: str, connections: int) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.burst", str(port), host, str(connections)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        self._total = 0
        self._final: dict[str, object] | None = None
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.startswith("total "):
                self._total = int(line.split()[1])
            elif line.startswith("{"):
                self._final = json.loads(line)

    def total(self) -> int:
        return self._total

    def finish(self) -> tuple[Counter[str], float]:
        """Stop the clients (each finishes its request in flight) and return (outcomes, slowest request's s)."""
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(REQUEST_S + 20)
        self._reader.join(5)
        assert self._final is not None, "the clients printed no outcomes"
        counts = self._final["counts"]
        assert isinstance(counts, dict)
        slowest = self._final["slowest_s"]
        assert isinstance(slowest, float)
        return Counter({str(k): int(v) for k, v in counts.items()}), slowest

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)


if __name__ == "__main__":
    asyncio.run(_main(int(sys.argv[1]), sys.argv[2], int(sys.argv[3])))
