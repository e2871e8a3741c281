"""The follower's status: what a person watching needs (lag, events/s, the restorable range), and its heartbeat file.

``Ticker`` turns the run's counters into a ``FollowStatus`` about once a second and rewrites
``DIR/follower.json`` (the heartbeat ``up --backup --backup-log`` reads: not needed to restore). It
names its writer as every lease of the tool does (``liveness``: host, pid, boot id, PID namespace,
start time), so a reader can tell a dead follower from one in another container or of another user.
When the run ends, the heartbeat says ``stopped``, so nobody waits on a follower that is gone.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from bson.timestamp import Timestamp

from analytiq_data.backup.log.catalog import Catalog, Range
from analytiq_data.backup.log.format import token_out, ts_doc
from analytiq_data.backup.log.segment import SegmentWriter
from analytiq_data.liveness import this_process

HEARTBEAT = "follower.json"
#: The events/s figure is the rate over this many last seconds.
RATE_WINDOW_S = 10.0


@dataclass(frozen=True)
class FollowStatus:
    """What a person watching the follower needs: lag, rate, the restorable range, the open segment."""

    state: str  # "base", "following", "stopped"
    lag_s: float | None
    events: int
    events_per_s: float
    durable: Timestamp | None
    restorable: Range | None
    segment: int
    segments_closed: int

    def to_json(self) -> dict[str, Any]:
        """Return the status as one JSON object (a ``--json`` status line)."""
        return {
            "state": self.state,
            "lag_s": self.lag_s,
            "events": self.events,
            "events_per_s": round(self.events_per_s, 1),
            "durable": ts_doc(self.durable),
            "restorable": self.restorable.to_json() if self.restorable else None,
            "segment": self.segment,
            "segments_closed": self.segments_closed,
        }


def open_entry(writer: SegmentWriter) -> dict[str, Any]:
    """Return the open segment as a catalog entry (for the ranges), from what the writer knows."""
    return {
        "seq": writer.seq,
        "file": writer.path.name,
        "after": ts_doc(writer.after.at),
        "after_token": token_out(writer.after.token),
        "last": ts_doc(writer.last.at),
        "token": token_out(writer.last.token),
        "covered": ts_doc(writer.covered),
        "events": writer.events,
    }


@dataclass
class Ticker:
    """Computes the status of one run (the rate over the last ``RATE_WINDOW_S``) and keeps the heartbeat."""

    folder: Path
    db: str
    ticks: list[tuple[float, int]] = field(default_factory=lambda: [(time.monotonic(), 0)])
    last: FollowStatus | None = None

    def status(
        self, catalog: Catalog, writer: SegmentWriter | None, events: int, closed: int, now: Timestamp, state: str
    ) -> FollowStatus:
        """Return the status now (``now``: the source's cluster time) and write it to the heartbeat."""
        durable = writer.covered if writer is not None else None
        found = catalog.end_of_newest(open_entry(writer) if writer is not None else None)
        clock = time.monotonic()
        kept = [t for t in self.ticks if clock - t[0] <= RATE_WINDOW_S]
        self.ticks = (kept or self.ticks[-1:]) + [(clock, events)]
        first = self.ticks[0]
        rate = (events - first[1]) / (clock - first[0]) if clock > first[0] else 0.0
        lag = max(0, now.time - durable.time) if durable is not None else None
        seq = writer.seq if writer is not None else 0
        self.last = FollowStatus(state, lag, events, rate, durable, found[1] if found else None, seq, closed)
        self.beat(self.last)
        return self.last

    def beat(self, status: FollowStatus) -> None:
        """Replace the heartbeat file with ``status`` (and who writes it)."""
        heartbeat = {**this_process().record(), "db": self.db, "updated": time.time()}
        heartbeat |= status.to_json()
        path = self.folder / HEARTBEAT
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(heartbeat))
        os.replace(tmp, path)

    def stopped(self) -> None:
        """Mark the heartbeat ``stopped`` (the run ended, however it ended)."""
        if self.last is not None and self.last.state != "stopped":
            self.beat(replace(self.last, state="stopped"))
