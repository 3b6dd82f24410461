"""`devloop ssh` on Kubernetes without kubectl: an exec session over the API server's WebSocket.

Run as `python -m devloop.providers.kind.shell ...` (the provider hands this argv to the
same exec path as `docker exec`). Speaks `v5.channel.k8s.io`: stdin on channel
0 (closed with 255/0 when stdin ends), stdout 1, stderr 2, the final Status
on 3, terminal size on 4. With a terminal it switches it to raw mode and always
restores it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import sys
import termios
import threading
import tty
from pathlib import Path
from typing import Any

from devloop.adapters.kube import KubeClient
from devloop.adapters.kubewire import exit_code, failure_message
from devloop.errors import DevloopError


async def session(args: argparse.Namespace) -> int:
    kube = await KubeClient.connect(Path(args.kubeconfig) if args.kubeconfig else None, args.context or None)
    interactive = sys.stdin.isatty() and sys.stdout.isatty()
    params: list[tuple[str, str]] = [("command", part) for part in args.command]
    params += [("container", args.container), ("stdin", "true"), ("stdout", "true")]
    params += [("stderr", "false" if interactive else "true"), ("tty", "true" if interactive else "false")]
    loop = asyncio.get_running_loop()
    try:
        async with kube.api.open_websocket(
            version="v1", namespace=args.namespace, url=f"pods/{args.pod}/exec",
            subprotocols=("v5.channel.k8s.io",), params=params,
        ) as ws:  # fmt: skip
            if interactive:
                size = shutil.get_terminal_size()
                await ws.send_bytes(
                    b"\x04" + json.dumps({"Width": size.columns, "Height": size.lines}).encode()
                )
            outgoing: asyncio.Queue[bytes] = asyncio.Queue()  # one sender keeps stdin's order

            def read_stdin() -> None:
                """A daemon thread: works for terminals, pipes and files alike, and never holds up exit."""
                fd = sys.stdin.fileno()
                while data := os.read(fd, 65536):
                    loop.call_soon_threadsafe(outgoing.put_nowait, b"\x00" + data)
                loop.call_soon_threadsafe(outgoing.put_nowait, b"\xff\x00")  # stdin ended: close channel 0

            async def send() -> None:
                while True:
                    await ws.send_bytes(await outgoing.get())

            sender = asyncio.create_task(send())
            threading.Thread(target=read_stdin, name="kubeshell-stdin", daemon=True).start()
            try:
                while True:
                    message: bytes = await ws.receive_bytes()
                    channel, payload = message[0], message[1:]
                    if channel == 1:
                        sys.stdout.buffer.write(payload)
                        sys.stdout.buffer.flush()
                    elif channel == 2:
                        sys.stderr.buffer.write(payload)
                        sys.stderr.buffer.flush()
                    elif channel == 3:
                        reason = failure_message(payload)
                        if reason:  # the command never ran: say why, as kubectl does
                            sys.stderr.write(f"error: {reason}\n")
                        return exit_code(payload)
            finally:
                sender.cancel()
    finally:
        await kube.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="devloop-kubeshell")
    for name in ("--kubeconfig", "--context", "--namespace", "--pod", "--container"):
        parser.add_argument(name, default="")
    parser.add_argument("command", nargs="+")
    args = parser.parse_args(argv)
    saved: Any = None
    if sys.stdin.isatty() and sys.stdout.isatty():
        saved = termios.tcgetattr(sys.stdin.fileno())
        tty.setraw(sys.stdin.fileno())
    try:
        return asyncio.run(session(args))
    except DevloopError as exc:
        print(f"error: {exc.render()}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    finally:
        if saved is not None:
            termios.tcsetattr(sys.stdin.fileno(), termios.TCSADRAIN, saved)


if __name__ == "__main__":
    sys.exit(main())
