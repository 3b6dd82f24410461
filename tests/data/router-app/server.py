"""An app for the router's tests on real containers (stdlib only).

GET /        -> "$GREETING $CF_INSTANCE_INDEX"
GET /stream  -> a chunked response that never ends: one line every 20 ms
GET /ws      -> a WebSocket echo ("echo " + each text message)
POST /crash  -> the instance exits with code 3, and keeps exiting on every restart
"""

import base64
import hashlib
import os
import struct
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

DEAD = "/tmp/crashed"
GREETING = os.environ.get("GREETING", "hello")
INDEX = os.environ.get("CF_INSTANCE_INDEX", "?")
WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

if os.path.exists(DEAD):
    raise SystemExit(3)  # crashed before: crash again (a crash loop)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        if self.path == "/crash":
            open(DEAD, "w").close()
            os._exit(3)
        self.send_error(404)

    def do_GET(self):
        if self.path == "/stream":
            return self.stream()
        if self.path == "/ws" and self.headers.get("Upgrade", "").lower() == "websocket":
            return self.websocket()
        body = f"{GREETING} {INDEX}".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def stream(self):
        self.send_response(200)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        tick = 0
        try:
            while True:
                line = f"tick {tick}\n".encode()
                self.wfile.write(b"%x\r\n%s\r\n" % (len(line), line))
                self.wfile.flush()
                tick += 1
                time.sleep(0.02)
        except OSError:
            self.close_connection = True

    def websocket(self):
        key = self.headers["Sec-WebSocket-Key"].encode()
        accept = base64.b64encode(hashlib.sha1(key + WS_GUID).digest()).decode()
        self.send_response(101)
        self.send_header("Upgrade", "websocket")
        self.send_header("Connection", "Upgrade")
        self.send_header("Sec-WebSocket-Accept", accept)
        self.end_headers()
        self.wfile.flush()
        while True:
            first, second = self.rfile.read(2)
            opcode, length = first & 0x0F, second & 0x7F
            if length == 126:
                (length,) = struct.unpack("!H", self.rfile.read(2))
            elif length == 127:
                (length,) = struct.unpack("!Q", self.rfile.read(8))
            mask = self.rfile.read(4)
            data = bytes(b ^ mask[i % 4] for i, b in enumerate(self.rfile.read(length)))
            if opcode == 8:  # close: answer it and stop
                self.wfile.write(b"\x88\x00")
                self.close_connection = True
                return
            reply = b"echo " + data
            if len(reply) < 126:
                header = struct.pack("!BB", 0x81, len(reply))
            elif len(reply) < 65536:
                header = struct.pack("!BBH", 0x81, 126, len(reply))
            else:
                header = struct.pack("!BBQ", 0x81, 127, len(reply))
            self.wfile.write(header + reply)
            self.wfile.flush()

    def log_message(self, *args):
        pass


ThreadingHTTPServer.daemon_threads = True
ThreadingHTTPServer(("0.0.0.0", int(os.environ.get("PORT", "8080"))), Handler).serve_forever()
