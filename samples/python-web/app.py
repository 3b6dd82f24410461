"""A tiny web app: answers every GET with a greeting and logs each request.

On SIGHUP it re-executes itself, so devloop's file sync (`on_sync: {signal: HUP}`)
reloads the code in place without restarting the container.
"""

import os
import signal
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

GREETING = "hello from python-web"
INSTANCE = os.environ.get("CF_INSTANCE_INDEX", "?")


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = f"{GREETING}{os.environ.get('SUFFIX', '')} (instance {INSTANCE})\n".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        print(
            f"instance {INSTANCE}: {self.command} {self.path} {args[1] if len(args) > 1 else ''}", flush=True
        )


def reload(signum: int, frame: object) -> None:
    print(f"instance {INSTANCE}: reloading", flush=True)
    os.execv(sys.executable, [sys.executable, *sys.argv])


if __name__ == "__main__":
    port = int(os.environ.get("PORT", "8080"))
    signal.signal(signal.SIGHUP, reload)
    ThreadingHTTPServer.allow_reuse_address = True
    server = ThreadingHTTPServer(("0.0.0.0", port), Handler)
    print(f"instance {INSTANCE}: listening on :{port}", flush=True)
    server.serve_forever()
