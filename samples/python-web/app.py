"""A tiny web app: answers every GET with a greeting and logs each request."""

import os
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

GREETING = "hello from python-web"


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = f"{GREETING} ({os.environ.get('HOSTNAME', '?')})\n".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        print(f"{self.command} {self.path} -> {args[1] if len(args) > 1 else ''}", flush=True)


if __name__ == "__main__":
    port = int(os.environ.get("PORT", "8080"))
    print(f"listening on :{port}", flush=True)
    sys.stdout.flush()
    ThreadingHTTPServer(("0.0.0.0", port), Handler).serve_forever()
