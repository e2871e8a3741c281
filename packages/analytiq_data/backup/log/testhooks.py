"""The follower's test hook: pause at named points (``write-N``, ``synced-N``, ``closing-N``) until told to go.

``ANALYTIQ_TEST_FOLLOW_PAUSE=NAME1,NAME2:DIR`` writes ``DIR/paused-NAME`` when the follower reaches
NAME and blocks until ``DIR/go-NAME`` exists (tests kill the process there). Tests only: a file
handshake, not a sleep; unset, it costs one dict lookup per point.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

PAUSE_ENV = "ANALYTIQ_TEST_FOLLOW_PAUSE"


class Pauses:
    """The named points this run pauses at (none unless ``PAUSE_ENV`` is set)."""

    def __init__(self) -> None:
        spec = os.environ.get(PAUSE_ENV, "")
        names, _, folder = spec.partition(":")
        self.folder = Path(folder) if folder else None
        self.names = {n.strip() for n in names.split(",") if n.strip()} if self.folder else set()

    def hit(self, name: str) -> None:
        """Pause at ``name`` if asked (blocking: the process is meant to be killed or told to go)."""
        if name not in self.names or self.folder is None:
            return
        (self.folder / f"paused-{name}").write_text(str(os.getpid()))
        while not (self.folder / f"go-{name}").exists():
            time.sleep(0.02)  # polling a file another process writes (the handshake), not a timing guess
