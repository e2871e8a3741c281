"""A list whose newest step holds its ``down`` until the test says go, for "a run in progress" tests.

Version 3's ``down`` counts itself (``effects`` "3:down"), then tells the test it is inside by
writing ``{_id: "down-entered"}`` to ``signals`` (outside any transaction, visible at once), and
waits until ``signals`` holds ``{_id: "go"}``. While it waits, the lock is held and the recorded
version is still 3 (the newest): the state a runner must not take for "nothing to do".
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from analytiq_data.migrations.base import Migration
from tests.migrations_fixtures.basic import RenameNameMigration, SeedUsersMigration, count

WAIT_LIMIT_S = 120.0


class HoldsItsDownMigration(Migration):
    """Add users.active; its down waits for the test's go signal."""

    use_transaction = False

    async def up(self, db: AsyncDatabase[Any]) -> bool:
        await db.users.update_many({}, {"$set": {"active": True}})
        await count(db, 3, "up")
        return True

    async def down(self, db: AsyncDatabase[Any]) -> bool:
        await count(db, 3, "down")
        await db.signals.update_one({"_id": "down-entered"}, {"$inc": {"n": 1}}, upsert=True)
        deadline = time.monotonic() + WAIT_LIMIT_S
        while await db.signals.find_one({"_id": "go"}) is None:
            if time.monotonic() > deadline:
                raise TimeoutError("the test never said go")
            await asyncio.sleep(0.02)
        await db.users.update_many({}, {"$unset": {"active": ""}})
        return True


MIGRATIONS: list[Migration] = [SeedUsersMigration(), RenameNameMigration(), HoldsItsDownMigration()]
