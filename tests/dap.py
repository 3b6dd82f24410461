"""A small Debug Adapter Protocol client for the debugging tests: what an IDE does when it attaches.

DAP messages are JSON bodies after a `Content-Length: N` header and a blank line, over TCP. The
client sends requests (`seq`, `command`, `arguments`) and reads responses (matched by
`request_seq`) and events (`stopped`, `initialized`, ...) as they come; events are kept so a test
can wait for one that arrived before it asked.
"""

from __future__ import annotations

import json
import socket
import time
from typing import Any

Message = dict[str, Any]


class DapClient:
    def __init__(self, host: str, port: int, timeout: float = 10.0) -> None:
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.timeout = timeout
        self._buffer = b""
        self._seq = 0
        self.events: list[Message] = []
        self._responses: dict[int, Message] = {}

    def close(self) -> None:
        self.sock.close()

    # --- framing ------------------------------------------------------------------------------

    def _send(self, message: Message) -> None:
        body = json.dumps(message).encode()
        self.sock.sendall(f"Content-Length: {len(body)}\r\n\r\n".encode() + body)

    def _read_message(self, deadline: float) -> Message:
        while b"\r\n\r\n" not in self._buffer:
            self._fill(deadline)
        header, _, rest = self._buffer.partition(b"\r\n\r\n")
        lengths = [line.split(b":", 1)[1] for line in header.split(b"\r\n") if line.lower().startswith(b"content-length")]
        length = int(lengths[0])
        while len(rest) < length:
            self._buffer = header + b"\r\n\r\n" + rest
            self._fill(deadline)
            header, _, rest = self._buffer.partition(b"\r\n\r\n")
        self._buffer = rest[length:]
        message: Message = json.loads(rest[:length])
        return message

    def _fill(self, deadline: float) -> None:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("no DAP message in time")
        self.sock.settimeout(remaining)
        data = self.sock.recv(65536)
        if not data:
            raise ConnectionError("the debug adapter closed the connection")
        self._buffer += data

    def _pump(self, deadline: float) -> None:
        message = self._read_message(deadline)
        if message.get("type") == "event":
            self.events.append(message)
        elif message.get("type") == "response":
            self._responses[int(message["request_seq"])] = message
        # reverse requests (runInTerminal...) are not used by an attach

    # --- requests and events ------------------------------------------------------------------

    def send(self, command: str, **arguments: Any) -> int:
        self._seq += 1
        self._send({"seq": self._seq, "type": "request", "command": command, "arguments": arguments})
        return self._seq

    def response(self, seq: int, timeout: float | None = None) -> Message:
        deadline = time.monotonic() + (timeout or self.timeout)
        while seq not in self._responses:
            self._pump(deadline)
        answer = self._responses.pop(seq)
        if not answer.get("success"):
            raise AssertionError(f"{answer.get('command')} failed: {answer.get('message')} {answer.get('body')}")
        return answer

    def request(self, command: str, timeout: float | None = None, **arguments: Any) -> Message:
        return self.response(self.send(command, **arguments), timeout)

    def event(self, name: str, timeout: float | None = None) -> Message:
        """The first event `name` not taken yet (waiting for it if it has not come)."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            for at, event in enumerate(self.events):
                if event.get("event") == name:
                    return self.events.pop(at)
            self._pump(deadline)

    # --- what an IDE does ---------------------------------------------------------------------

    def attach(self, breakpoints: dict[str, list[int]], **arguments: Any) -> None:
        """initialize, attach, the breakpoints (file -> lines) on `initialized`, configurationDone."""
        self.request("initialize", clientID="devloop-tests", adapterID="debugpy", pathFormat="path",
                     linesStartAt1=True, columnsStartAt1=True)  # fmt: skip
        attach = self.send("attach", **arguments)
        self.event("initialized")
        for path, lines in breakpoints.items():
            answer = self.request("setBreakpoints", source={"path": path},
                                  breakpoints=[{"line": n} for n in lines])  # fmt: skip
            assert answer["body"]["breakpoints"], answer
        self.request("configurationDone")
        self.response(attach)

    def local_variables(self, thread_id: int) -> dict[str, str]:
        """The innermost frame's locals, name -> value as the debugger renders it."""
        frames = self.request("stackTrace", threadId=thread_id)["body"]["stackFrames"]
        scopes = self.request("scopes", frameId=frames[0]["id"])["body"]["scopes"]
        local = next(s for s in scopes if s["name"].lower().startswith("local"))
        variables = self.request("variables", variablesReference=local["variablesReference"])["body"]["variables"]
        return {v["name"]: v["value"] for v in variables}
