"""One follower per log directory: an exclusive lock on ``DIR/follower.lock``, held for the whole run.

Two followers writing one directory would each "recover" the other's open segment and number
segments alike. The lock is ``flock`` on a file descriptor: the kernel releases it when the process
ends in any way (kill -9 too), so a crashed follower never blocks the next one. The file names the
holder (pid, host) for the refusal's message. Local file systems only: ``flock`` over NFS is not
reliable across hosts (run one follower per directory there by other means).
"""

from __future__ import annotations

import fcntl
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from analytiq_data.errors import ConfigurationError, LockError

LOCK_FILE = "follower.lock"


def log_folder(to: str) -> Path:
    """Return the log directory ``to``, created if missing; ConfigurationError if it cannot be one."""
    folder = Path(to)
    if folder.exists() and not folder.is_dir():
        raise ConfigurationError(
            f"--to {to} is not a directory", hint="give a directory for the log (created if missing)"
        )
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigurationError(
            f"cannot create the log directory {to}: {exc.strerror}", hint="give another --to"
        ) from exc
    return folder


@contextmanager
def holding(folder: Path) -> Iterator[None]:
    """Hold ``folder``'s follower lock while the block runs; LockError (exit 5) if another follower holds it."""
    path = folder / LOCK_FILE
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise ConfigurationError(f"cannot write in {folder}: {exc.strerror}", hint="give another --to") from exc
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "a running process"
            raise LockError(
                f"another follower ({holder}) is writing to {folder}: one follower per directory",
                hint="stop it first, or give another --to",
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} on {socket.gethostname()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)  # releases the lock
