"""Point-in-time recovery: a base (a consistent dump) plus a continuous log of the database's change events.

``format`` frames records; ``segment`` writes, reads, cuts and closes segment files; ``catalog``
keeps ``DIR/catalog.json`` (bases, segments, gaps) and computes the restorable ranges;
``follower`` takes or adopts a base and tails the change stream into segments; ``replay`` turns
logged events into writes on a staging database. The on-disk contract is
``docs/reference/event-log-format.md``. Nothing here knows about migrations.
"""

from analytiq_data.backup.log.catalog import Catalog, Range, load_catalog
from analytiq_data.backup.log.follower import FollowOptions, FollowResult, follow

__all__ = ["Catalog", "FollowOptions", "FollowResult", "Range", "follow", "load_catalog"]
