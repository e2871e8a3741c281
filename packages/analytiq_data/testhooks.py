"""Test hooks: a run pauses at named points until a test says go — a file handshake, never a sleep.

An environment variable ``NAME=POINT1,POINT2:DIR`` arms the points of one kind of run. When the run
reaches an armed point it writes ``DIR/paused-POINT`` and waits, without holding up its event loop,
until ``DIR/go-POINT`` exists; a test kills the process there, or changes something and lets it go
on. Each point pauses once. Unarmed (the variable unset, as always outside the tests), a point costs
one set lookup. The variables and their points:

- ``ANALYTIQ_TEST_RESTORE_PAUSE`` (``safety.restore_run``): ``loaded`` (before the swap), ``swap-N``
  (after the N-th rename), ``swapped``;
- ``ANALYTIQ_TEST_FOLLOW_PAUSE`` (``backup.log.follower``): ``write-N`` (N events written, not yet
  fsynced), ``synced-N`` (fsynced), ``closing`` (a segment closed, not yet catalogued);
- ``ANALYTIQ_TEST_CATCHUP_PAUSE`` (``backup.consistent.catchup``): ``N``, once the catch-up has handed
  on N events or more (``0``: before it chooses its time T); ``paused-N`` holds the count reached.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

#: How often a paused run looks for its ``go-POINT`` file (a file another process writes).
POLL_S = 0.02


class Pauses:
    """The points armed by environment variable ``env`` (none when it is unset)."""

    def __init__(self, env: str) -> None:
        points, _, folder = os.environ.get(env, "").partition(":")
        self.folder = Path(folder) if folder else None
        self.points = {p.strip() for p in points.split(",") if p.strip()} if self.folder else set()

    async def pause(self, point: str, note: str | None = None) -> None:
        """Pause at ``point`` if it is armed: write ``paused-POINT`` (holding ``note``, else this process's
        pid), then wait for ``go-POINT``."""
        if point not in self.points or self.folder is None:
            return
        self.points.discard(point)
        (self.folder / f"paused-{point}").write_text(str(os.getpid()) if note is None else note)
        while not (self.folder / f"go-{point}").exists():  # noqa: ASYNC110 (a file from another process)
            await asyncio.sleep(POLL_S)

    def reached(self, count: int) -> list[str]:
        """Return the armed numeric points up to ``count``, smallest first (a count reaching N passes N)."""
        return sorted((p for p in self.points if p.isdigit() and int(p) <= count), key=int)
