"""A small keep-alive HTTP/1.1 server for the router benchmarks (stdlib only, one core).

Answers every request with `<name> <instance>` so a load generator sees which
instance served it. Fast enough (tens of thousands of requests a second) that the
thing measured in front of it is the router, not this.
"""

import asyncio
import os
import signal

NAME = os.environ.get("GREETING", "hello")
BODY = f"{NAME} {os.environ.get('CF_INSTANCE_INDEX', '0')}\n".encode()
RESPONSE = (
    b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: "
    + str(len(BODY)).encode()
    + b"\r\n\r\n"
    + BODY
)


class Http(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport = transport
        self.buffer = b""

    def data_received(self, data):
        self.buffer += data
        count = self.buffer.count(b"\r\n\r\n")
        if count:
            self.buffer = self.buffer[self.buffer.rfind(b"\r\n\r\n") + 4 :]
            self.transport.write(RESPONSE * count)


async def main():
    loop = asyncio.get_running_loop()
    server = await loop.create_server(Http, "0.0.0.0", int(os.environ.get("PORT", "8080")))
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    async with server:
        await stop.wait()


asyncio.run(main())
