"""Files and folders only the user can read: every file devloop writes for itself goes through here.

Generated Dockerfiles, kubeconfig copies (client keys) and the control socket's
folder are nobody else's business on a shared machine.
"""

from __future__ import annotations

import os
from pathlib import Path


def private_dir(path: Path) -> Path:
    """`path` set to 0700 whatever it was, and any folder created on the way to it 0700 too."""
    missing = [p for p in (path, *path.parents) if not p.exists()]
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    for folder in missing:
        os.chmod(folder, 0o700)
    os.chmod(path, 0o700)
    return path


def write_private(path: Path, text: str | bytes) -> Path:
    """Write `text` (UTF-8) or bytes to `path` as a 0600 file, atomically (a reader never sees half
    of it)."""
    private_dir(path.parent)
    temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(text.encode() if isinstance(text, str) else text)
        os.chmod(temp, 0o600)  # O_CREAT's mode does not apply to a file left by a crash
        temp.replace(path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    return path


def state_home() -> Path:
    """devloop's own state (service passwords, log history, events): $XDG_STATE_HOME/devloop."""
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return Path(base) / "devloop"
