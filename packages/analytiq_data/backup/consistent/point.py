"""What a point-in-time backup reports: the cluster time T it equals the source at, and how that was reached."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bson.timestamp import Timestamp

#: How a consistent copy was checked against the source as of T.
SNAPSHOT = "snapshot"  # source read with readConcern snapshot atClusterTime T, compared with the copy
REPLAYED = "copy+events"  # the copy verified against what was read, the events to T applied and acknowledged


def ts_text(ts: Timestamp) -> str:
    """Return a cluster time as people and JSON read it: ``Timestamp(seconds, increment)``."""
    return f"Timestamp({ts.time}, {ts.inc})"


def ts_doc(ts: Timestamp) -> dict[str, int]:
    """Return a cluster time as JSON-ready data (``{"t": seconds, "i": increment}``, as mongo-tools write it)."""
    return {"t": ts.time, "i": ts.inc}


@dataclass(frozen=True)
class PointInTime:
    """A copy that equals the source as of cluster time ``at`` (T).

    ``start`` is the cluster time noted before reading; ``events`` the change events applied from
    ``start`` up to T (over all runs of a resumed copy: ``events_this_run`` in this one);
    ``verified_by`` says how the copy was compared with the source as of T (``SNAPSHOT`` or
    ``REPLAYED``), or None when not verified.
    """

    at: Timestamp
    start: Timestamp
    events: int = 0
    events_this_run: int = 0
    verified_by: str | None = None

    def describe(self) -> str:
        """Return one line for the summary: T, and how the copy got there."""
        how = {SNAPSHOT: "checked against a snapshot of the source at T", REPLAYED: "copy verified, events replayed"}
        said = how.get(self.verified_by or "", "not verified")
        return f"point in time T = {ts_text(self.at)} ({self.at.as_datetime():%Y-%m-%d %H:%M:%S} UTC): " + (
            f"{self.events:,} change events applied after the copy; {said}"
        )

    def describe_dump(self, done: str = "written to the dump (analytiq-db restore replays them)") -> str:
        """Return one line for a dump's summary (or a restore's note): T, and what became of the events."""
        when = f"{ts_text(self.at)} ({self.at.as_datetime():%Y-%m-%d %H:%M:%S} UTC)"
        return f"point in time T = {when}: {self.events:,} change events {done}"

    def to_dict(self) -> dict[str, Any]:
        """Return the point in time as JSON-ready data."""
        return {
            "cluster_time": ts_doc(self.at),
            "cluster_time_text": ts_text(self.at),
            "wall_time": self.at.as_datetime().isoformat(),
            "start": ts_doc(self.start),
            "events": self.events,
            "events_this_run": self.events_this_run,
            "verified_by": self.verified_by,
        }
