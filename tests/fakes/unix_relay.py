"""A Unix-socket relay to the Docker engine that a test can kill and restart.

Killing it makes the engine vanish from devloop's point of view (every
connection drops, new ones are refused) while the containers keep running,
as when the engine restarts or Docker Desktop is quit. Run as a script:
python -m tests.fakes.unix_relay LISTEN_PATH TARGET_PATH
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys


async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except OSError:
        pass
    finally:
        with contextlib.suppress(OSError):
            writer.close()


async def main(listen: str, target: str) -> None:
    async def handle(client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        try:
            up_r, up_w = await asyncio.open_unix_connection(target)
        except OSError:
            client_w.close()
            return
        await asyncio.gather(pipe(client_r, up_w), pipe(up_r, client_w))

    with contextlib.suppress(FileNotFoundError):
        os.unlink(listen)
    server = await asyncio.start_unix_server(handle, path=listen)
    print("ready", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
