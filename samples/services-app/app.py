"""Counts visits in PostgreSQL and queues one job per visit in Redis, bound through VCAP_SERVICES.

GET /        -> "visit N" (N from the database: it survives restarts)
GET /done    -> how many jobs the worker process has finished
GET /stats   -> what the stats sidecar beside this instance says (over 127.0.0.1)
GET /health  -> "ok"
"""

import json
import os
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlparse

import pg8000.native
import redis


def bound(label: str) -> dict:
    """The first service with this label in VCAP_SERVICES, as a Cloud Foundry app reads it."""
    return json.loads(os.environ["VCAP_SERVICES"])[label][0]["credentials"]


def database() -> pg8000.native.Connection:
    c = bound("postgresql")
    return pg8000.native.Connection(
        c["username"], host=c["hostname"], port=c["port"], database=c["name"], password=c["password"]
    )


def queue() -> redis.Redis:
    return redis.Redis.from_url(bound("redis")["uri"])


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        path = urlparse(self.path).path
        if path == "/health":
            return self.answer("ok")
        if path == "/done":
            return self.answer(f"done {int(queue().get('done') or 0)}")
        if path == "/stats":
            with urllib.request.urlopen("http://127.0.0.1:9100/", timeout=5) as sidecar:
                return self.answer(sidecar.read().decode().strip())
        db = database()
        try:
            db.run("CREATE TABLE IF NOT EXISTS visits (id SERIAL PRIMARY KEY, at TIMESTAMP DEFAULT now())")
            db.run("INSERT INTO visits DEFAULT VALUES")
            (visit,) = db.run("SELECT count(*) FROM visits")[0]
        finally:
            db.close()
        queue().rpush("jobs", str(visit))
        self.answer(f"visit {visit}")

    def answer(self, text: str) -> None:
        body = f"{text}\n".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        print(f"{self.command} {self.path} {args[1] if len(args) > 1 else ''}", flush=True)


if __name__ == "__main__":
    print("web: bound to", ", ".join(sorted(json.loads(os.environ["VCAP_SERVICES"]))), flush=True)
    ThreadingHTTPServer(("0.0.0.0", int(os.environ.get("PORT", "8080"))), Handler).serve_forever()
