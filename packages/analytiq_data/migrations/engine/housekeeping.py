"""Leaving the user's database tidy: no empty bookkeeping collections after a run.

At the end of a run, still holding the lease, the runner drops ``migration_checkpoints`` if it is
empty (only jobs under the lock write there), then releases the lease by dropping
``migration_lock`` — but only when the collection holds nothing but this runner's own lease with
time left on it. While that lease is live no other runner can write there (their upserts hit a
duplicate key), so the drop cannot take anyone else's lease; a runner waiting for the lock finds
no lock and takes it in a fresh collection. In every other case the lease is released as before
(the document deleted), leaving the collection.
"""

from __future__ import annotations

import logging
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import PyMongoError

from analytiq_data.migrations.engine.lock import LOCK_ID, MigrationLock

log = logging.getLogger(__name__)

CHECKPOINTS = "migration_checkpoints"  # the batch helper's collection (migrations.batch.CHECKPOINTS)
MARGIN_MS = 2000  # lease time that must remain for the drop to be safely this runner's alone


async def drop_if_empty(db: AsyncDatabase[Any], name: str) -> bool:
    """Drop collection ``name`` if it exists and holds no document; return whether it was dropped."""
    if name not in await db.list_collection_names(filter={"name": name}):
        return False
    if await db[name].find_one({}, {"_id": 1}) is not None:
        return False
    await db.drop_collection(name)
    return True


async def _only_our_live_lease(lock: MigrationLock) -> bool:
    coll = lock.db[lock.collection]
    if await coll.count_documents({}, limit=2) != 1:
        return False
    remaining = {"$subtract": [{"$toLong": "$expires_at"}, {"$toLong": "$$NOW"}]}
    mine = {"_id": LOCK_ID, "token": lock.token, "$expr": {"$gt": [remaining, MARGIN_MS]}}
    return await coll.find_one(mine, {"_id": 1}) is not None


async def release_tidily(lock: MigrationLock) -> None:
    """Release ``lock`` leaving no empty ``migration_checkpoints`` or ``migration_lock`` behind
    when that is safe (see the module's docstring); otherwise release it as usual. Never raises."""
    if lock.held and not lock.lost:
        try:
            await lock.stop_renewing()
            await drop_if_empty(lock.db, CHECKPOINTS)
            if await _only_our_live_lease(lock):
                await lock.db.drop_collection(lock.collection)
                lock.held = False  # nothing left to delete
                return
        except PyMongoError as exc:
            log.warning("could not tidy the bookkeeping collections: %s", exc)
    await lock.release()
