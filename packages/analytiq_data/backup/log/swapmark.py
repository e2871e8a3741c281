"""How the follower recognises a restore replacing the database it follows: a swap the log cannot represent.

A restore (``restore``, ``restore --archive``, ``restore --from-log``) builds the database beside it
and swaps the result in by renames from another database; those renames are not events of this
database's change stream (on some servers nothing of them is), so a log that went on would replay
the swap's drops and not what replaced them. Every restore holds the database's migration lock and
marks it ``{phase: "restore"}`` before it touches anything: the follower sees that write and stops
there with a gap, and no base is taken while the mark is set.

The names below are the migration lock's (``migrations.engine.lock``) and the restore's phase
(``safety.restore.PHASE``), written out because the backup engine imports nothing of migrations;
``tests/unit/test_event_log_replay.py`` keeps them equal.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

LOCK_COLLECTION = "migration_lock"
PHASE_FIELD = "phase"
RESTORE_PHASE = "restore"


def swap_begins(event: Mapping[str, Any]) -> bool:
    """Return whether ``event`` is a restore marking the database's lock: the database is being replaced."""
    if (event.get("ns") or {}).get("coll") != LOCK_COLLECTION:
        return False
    op = event.get("operationType")
    if op == "update":
        fields = (event.get("updateDescription") or {}).get("updatedFields") or {}
    elif op in ("insert", "replace"):
        fields = event.get("fullDocument") or {}
    else:
        return False
    return bool(fields.get(PHASE_FIELD) == RESTORE_PHASE)


async def restore_running(db: AsyncDatabase[Any]) -> bool:
    """Return whether a restore is replacing ``db`` now: its lock carries the restore's mark and has not
    expired (a restore that died leaves its mark only until its lease runs out)."""
    # compared as milliseconds, as the lock itself does (SecantusDB compares a date with $$NOW as false)
    live = {PHASE_FIELD: RESTORE_PHASE, "$expr": {"$gt": [{"$toLong": "$expires_at"}, {"$toLong": "$$NOW"}]}}
    return await db[LOCK_COLLECTION].find_one(live, {"_id": 1}) is not None
