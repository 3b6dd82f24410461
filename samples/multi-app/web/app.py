"""Queues a job in Redis on every GET / and shows how many the worker has done."""

import os
import socket
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def redis(*args: str) -> str:
    """One Redis command over RESP, enough for this sample (no client library needed)."""
    with socket.create_connection((os.environ.get("REDIS_HOST", "redis"), 6379), timeout=2) as conn:
        conn.sendall(f"*{len(args)}\r\n".encode() + b"".join(f"${len(a)}\r\n{a}\r\n".encode() for a in args))
        reply = conn.recv(4096).decode()
    if reply.startswith("$-1"):
        return ""
    return reply.split("\r\n")[1] if reply.startswith("$") else reply[1:].strip()


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path == "/health":
            body = b"ok\n"
        else:
            queued = redis("LPUSH", "jobs", self.path)
            body = f"queued: {queued}, done: {redis('GET', 'done') or '0'}\n".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


if __name__ == "__main__":
    print("web listening on :8080", flush=True)
    ThreadingHTTPServer(("0.0.0.0", int(os.environ.get("PORT", "8080"))), Handler).serve_forever()
