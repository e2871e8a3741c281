"""After a run the user's database holds no empty bookkeeping collections: ``migration_lock`` and
``migration_checkpoints`` are dropped when empty (the lock's only when it held nothing but this
runner's own live lease), whether the run succeeded or failed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pymongo.asynchronous.database import AsyncDatabase

import analytiq_data as ad
from analytiq_data.client import AnalytiqClient
from analytiq_data.errors import AnalytiqError
from analytiq_data.migrations import Migration
from analytiq_data.migrations.batch import CHECKPOINTS, batch_update
from analytiq_data.migrations.engine import housekeeping
from tests.migrations_fixtures import basic, failing


class BatchedFlagMigration(Migration):
    use_transaction = False

    def __init__(self) -> None:
        super().__init__(description="flag every item, in batches")

    async def up(self, db: AsyncDatabase[Any]) -> bool:
        await batch_update(db.items, lambda doc: {"$set": {"flag": True}}, job="flag", batch_size=3)
        return True

    async def down(self, db: AsyncDatabase[Any]) -> bool:
        await db.items.update_many({}, {"$unset": {"flag": ""}})
        return True


async def bookkeeping(db: AsyncDatabase[Any]) -> list[str]:
    return sorted(n for n in await db.list_collection_names() if n.startswith("migration"))


def test_the_checkpoint_collection_name_is_the_batch_helpers() -> None:
    assert housekeeping.CHECKPOINTS == CHECKPOINTS


async def test_a_run_leaves_only_the_version_and_the_history(aclient: AnalytiqClient, db: AsyncDatabase[Any]) -> None:
    await db.items.insert_many([{"_id": i} for i in range(10)])
    result = await ad.migrations.run_migrations(aclient, migrations=[BatchedFlagMigration()])
    assert result.to_version == 1 and await db.items.count_documents({"flag": True}) == 10
    assert await bookkeeping(db) == ["migration_history", "migrations"]
    await ad.migrations.run_migrations(aclient, target_version=0, migrations=[BatchedFlagMigration()])
    await ad.migrations.stamp(aclient, 1, migrations=[BatchedFlagMigration()])
    assert await bookkeeping(db) == ["migration_history", "migrations"]


async def test_a_failed_run_leaves_no_empty_lock_collection(aclient: AnalytiqClient, db: AsyncDatabase[Any]) -> None:
    await db.flags.insert_one({"_id": "fail"})
    with pytest.raises(AnalytiqError, match="boom"):
        await ad.migrations.run_migrations(aclient, migrations=failing.RAISES)
    assert await bookkeeping(db) == ["migration_history", "migrations"]


async def test_the_lock_collection_stays_when_it_holds_anything_else(
    aclient: AnalytiqClient, db: AsyncDatabase[Any]
) -> None:
    note = {"_id": "ops-note", "text": "not ours to drop"}
    await db.migration_lock.insert_one(note)
    expired = datetime.now(UTC) - timedelta(seconds=5)  # the original code's lock, expired: taken over
    await db.migration_lock.insert_one({"_id": "migration_lock", "holder": "old-pod", "expires_at": expired})
    await ad.migrations.run_migrations(aclient, migrations=basic.MIGRATIONS)
    assert await db.migration_lock.find().to_list() == [note]
