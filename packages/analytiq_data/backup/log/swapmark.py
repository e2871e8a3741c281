"""How the follower recognises a restore replacing the database it follows: a swap the log cannot represent.

A restore (``restore``, ``restore --archive``, ``restore --from-log``) loads the backup inside the
database and swaps it in by renaming ``__restore.<name>`` over ``<name>``; the log records only user
namespaces, so a log that went on would replay the swap's drops and not what replaced them (nor tell
the restore's loading from the application's writes). Every restore writes its mark (``restore_mark``:
collection ``__restore``) before it creates anything: the follower sees that write and stops there
with a gap, and no base is taken while a mark is in the database (a stopped restore's mark stays
until the next restore finishes or removes what it left, so a base then would hold a partial load).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from analytiq_data.restore_mark import MARK_COLLECTION, read_mark


def swap_begins(event: Mapping[str, Any]) -> bool:
    """Return whether ``event`` writes a restore's mark: the database is being replaced."""
    if (event.get("ns") or {}).get("coll") != MARK_COLLECTION:
        return False
    return event.get("operationType") in ("insert", "replace", "update")


async def restore_running(db: AsyncDatabase[Any]) -> bool:
    """Return whether a restore is replacing ``db``, or stopped part-way: its mark is in the database."""
    return await read_mark(db) is not None
