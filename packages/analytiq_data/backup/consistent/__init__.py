"""Consistent copies of a live database: one point in time T, reached by replaying the change stream.

``run.Watch`` is what the backup engine calls (start time, resume state, catch-up, check at T);
``catchup`` reads the change stream up to T; ``events`` turns events into idempotent writes;
``apply`` replays them on a destination; ``clock`` reads the source's cluster time and its
snapshot reads; ``point`` is the ``PointInTime`` a result reports.
"""

from analytiq_data.backup.consistent.events import SourceChanged
from analytiq_data.backup.consistent.point import PointInTime

__all__ = ["PointInTime", "SourceChanged"]
