"""A sidecar: answers on 127.0.0.1:9100, which only its own web instance can reach (shared network)."""

import os
from http.server import BaseHTTPRequestHandler, HTTPServer

INSTANCE = os.environ.get("CF_INSTANCE_INDEX", "?")


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = f"stats sidecar of web instance {INSTANCE}\n".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        print(f"stats: {self.command} {self.path}", flush=True)


if __name__ == "__main__":
    print(f"stats: listening on 127.0.0.1:9100 beside web instance {INSTANCE}", flush=True)
    HTTPServer(("127.0.0.1", 9100), Handler).serve_forever()
