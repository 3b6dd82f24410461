"""A numeric loopback address per routed app, the same every time for the same project.

`http://APP.localhost:8080` needs a client that resolves `*.localhost` itself (browsers, curl);
the system resolver of many machines does not, and neither do Python's urllib, wget or httpie.
So each routed app also gets `http://127.0.0.1:PORT`, the port derived from the project and
the app (crc32, never hash(): stable across runs), the next one when it is taken. Pure: the
caller says which ports are free.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterable

FIRST = 20_000  # above the usual dev servers (3000, 5000, 8000-8999), below the ephemeral range
SPAN = 12_000  # 20000-31999: Linux hands out ephemeral ports from 32768
PROBES = 64  # how many ports past a taken one are tried


def preferred_port(project_id: str, app: str) -> int:
    """The app's own port when nothing holds it: the same for the same project and app."""
    return FIRST + zlib.crc32(f"{project_id}/{app}".encode()) % SPAN


def stable_port(project_id: str, app: str, is_free: Callable[[int], bool], avoid: Iterable[int] = ()) -> int:
    """The preferred port, else the next free one (wrapping inside the range), never one in `avoid`.
    Raises LookupError when PROBES ports in a row are taken."""
    avoided = set(avoid)
    start = preferred_port(project_id, app)
    for step in range(PROBES):
        port = FIRST + (start - FIRST + step) % SPAN
        if port not in avoided and is_free(port):
            return port
    raise LookupError(f"no free port in {PROBES} tries from 127.0.0.1:{start}")
