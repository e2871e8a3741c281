"""A step that holds its transaction open until the test says go, for lock and signal tests.

Version 2 writes inside its transaction (``effects`` "2:up"), then tells the test it is inside by
writing ``{_id: "entered", pid}`` to ``signals`` through a separate session (visible at once), and
waits until ``signals`` holds ``{_id: "go"}`` — an observable condition the test controls.
"""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from analytiq_data.migrations.base import Migration
from tests.migrations_fixtures.basic import AddActiveMigration, SeedUsersMigration, count

WAIT_LIMIT_S = 120.0


class WaitForGoMigration(Migration):
    """Wait inside the step until the test writes the go signal."""

    async def up(self, db: AsyncDatabase[Any]) -> bool:
        await count(db, 2, "up")
        async with db.client.start_session() as side:  # outside the step's transaction
            await db.signals.update_one(
                {"_id": "entered"}, {"$set": {"pid": os.getpid()}, "$inc": {"n": 1}}, upsert=True, session=side
            )
            deadline = time.monotonic() + WAIT_LIMIT_S
            while await db.signals.find_one({"_id": "go"}, session=side) is None:
                if time.monotonic() > deadline:
                    raise TimeoutError("the test never said go")
                await asyncio.sleep(0.02)
        return True

    async def down(self, db: AsyncDatabase[Any]) -> bool:
        await count(db, 2, "down")
        return True


MIGRATIONS: list[Migration] = [SeedUsersMigration(), WaitForGoMigration(), AddActiveMigration()]


class WaitForGoNotIdempotentMigration(WaitForGoMigration):
    """The same wait, outside a transaction, in a step declared unsafe to re-run."""

    use_transaction = False
    idempotent = False


NOT_IDEMPOTENT: list[Migration] = [SeedUsersMigration(), WaitForGoNotIdempotentMigration(), AddActiveMigration()]
