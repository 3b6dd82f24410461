"""A steady stream of HTTP requests from threads, counting every failure (tests and benchmarks).

Each thread keeps one HTTP/1.1 keep-alive connection, as a browser does, and
reconnects after an error. A request fails when the connection errors, times
out, or the status is not 200.
"""

from __future__ import annotations

import asyncio
import http.client
import threading
from collections import Counter
from dataclasses import dataclass, field


@dataclass
class LoadResult:
    ok: int = 0
    failures: Counter[str] = field(default_factory=Counter)  # reason -> count
    bodies: Counter[str] = field(default_factory=Counter)

    @property
    def failed(self) -> int:
        return sum(self.failures.values())


class Load:
    def __init__(self, port: int, host_header: str, path: str = "/", threads: int = 4) -> None:
        self.port = port
        self.host_header = host_header
        self.path = path
        self.threads = threads
        self.result = LoadResult()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._workers: list[threading.Thread] = []

    def __enter__(self) -> Load:
        for n in range(self.threads):
            worker = threading.Thread(target=self._run, name=f"load-{n}", daemon=True)
            worker.start()
            self._workers.append(worker)
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        for worker in self._workers:
            worker.join(10)

    async def __aenter__(self) -> Load:
        return self.__enter__()

    async def __aexit__(self, *_exc: object) -> None:
        """Join off the event loop: the server under load may be running on it."""
        await asyncio.to_thread(self.__exit__)

    def total(self) -> int:
        with self._lock:
            return self.result.ok + self.result.failed

    def _run(self) -> None:
        connection: http.client.HTTPConnection | None = None
        while not self._stop.is_set():
            if connection is None:
                connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
            try:
                connection.request("GET", self.path, headers={"Host": self.host_header})
                response = connection.getresponse()
                body = response.read().decode(errors="replace")
                outcome = "ok" if response.status == 200 else f"status {response.status}"
            except (OSError, http.client.HTTPException) as exc:
                outcome = type(exc).__name__
                connection.close()
                connection = None
                body = ""
            with self._lock:
                if outcome == "ok":
                    self.result.ok += 1
                    self.result.bodies[body] += 1
                else:
                    self.result.failures[outcome] += 1
            if outcome != "ok":
                self._stop.wait(0.01)  # pacing, as a client retrying would: not a count of a tight loop
        if connection is not None:
            connection.close()
