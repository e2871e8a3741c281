"""``restore``: a backup swapped back in place of a database — documents, indexes, options, views, GridFS —
extra collections and views dropped, verified; refusals leave everything as it was."""

from __future__ import annotations

from typing import Any

import pytest
from gridfs import AsyncGridFSBucket
from pymongo import ASCENDING
from pymongo.asynchronous.database import AsyncDatabase

from analytiq_data.backup import BackupOptions, backup
from analytiq_data.backup.plan import MANIFEST_COLLECTION as MANIFEST
from analytiq_data.errors import ConfigurationError, LockError
from analytiq_data.migrations.engine.lock import MigrationLock
from analytiq_data.safety import RestoreOptions, inspect_backup, restore
from tests.server.test_rehearse_support import databases, raw_state


async def _build(db: AsyncDatabase[Any]) -> None:
    """Write a database with a validator, a unique and a TTL index, a capped collection, a view and a file."""
    await db.create_collection("orders", validator={"$jsonSchema": {"required": ["ref"]}})
    await db.orders.create_index([("ref", ASCENDING)], unique=True)
    await db.orders.insert_many(
        [{"_id": i, "ref": f"r{i}", "total": i * 1.5, "lines": [{"sku": i}]} for i in range(50)]
    )
    await db.create_collection("events", capped=True, size=1 << 20)
    await db.events.insert_many([{"n": i} for i in range(10)])
    await db.sessions.create_index("seen", expireAfterSeconds=3600)
    await db.create_collection("big_orders", viewOn="orders", pipeline=[{"$match": {"total": {"$gt": 30}}}])
    await AsyncGridFSBucket(db, bucket_name="ocr").upload_from_stream("doc_list", b"x" * 1000)
    await db.migrations.insert_one({"_id": "schema_version", "version": 2})


async def _damage(db: AsyncDatabase[Any]) -> None:
    """Change the database the ways a bad migration or a mistake could."""
    await db.command("collMod", "orders", validator={})
    await db.orders.drop_index("ref_1")
    await db.orders.update_many({"_id": {"$lt": 10}}, {"$rename": {"ref": "reference"}})
    await db.orders.delete_many({"_id": {"$gte": 40}})
    await db.drop_collection("big_orders")
    await db.create_collection("cheap_orders", viewOn="orders", pipeline=[{"$match": {"total": {"$lt": 3}}}])
    await db.extra.insert_one({"_id": "left over"})
    await db.drop_collection("events")
    await db["ocr.files"].update_many({}, {"$set": {"filename": "doc_json"}})
    await db.migrations.update_one({"_id": "schema_version"}, {"$set": {"version": 5}})


async def test_restore_brings_back_everything_and_drops_what_the_backup_lacks(
    mongo_uri: str, db_name: str, db: AsyncDatabase[Any]
) -> None:
    await _build(db)
    name = f"{db_name}_bk"
    await backup(BackupOptions(src_uri=mongo_uri, src_db=db_name, dest_db=name))
    expected = await raw_state(db.client[name], identity=False, skip=(MANIFEST,))
    assert expected == await raw_state(db, identity=False)
    await _damage(db)
    assert await raw_state(db, identity=False) != expected

    options = RestoreOptions(uri=mongo_uri, db=db_name, backup=name)
    info = await inspect_backup(options)
    assert (info.version, info.collections) == (2, len(expected))
    result = await restore(options)
    assert result.verified and result.version == 2
    assert result.dropped == ("cheap_orders", "extra") and result.views == ("big_orders",)
    assert set(result.collections) == set(expected) - {"big_orders"}
    assert await raw_state(db, identity=False, skip=("migration_lock",)) == expected
    assert await raw_state(db.client[name], identity=False, skip=(MANIFEST,)) == expected  # the backup is untouched
    assert await databases(db) == [name]  # the rebuild database was dropped
    with pytest.raises(Exception, match="ref"):  # the validator is back
        await db.orders.insert_one({"_id": "no ref"})


async def test_restore_refuses_and_changes_nothing(mongo_uri: str, db_name: str, db: AsyncDatabase[Any]) -> None:
    await _build(db)
    before = await raw_state(db)
    with pytest.raises(ConfigurationError, match="does not exist"):
        await restore(RestoreOptions(uri=mongo_uri, db=db_name, backup=f"{db_name}_missing"))
    with pytest.raises(ConfigurationError, match="same server"):
        RestoreOptions(uri=mongo_uri, db=db_name, backup=db_name)
    name = f"{db_name}_bk"
    await backup(BackupOptions(src_uri=mongo_uri, src_db=db_name, dest_db=name))
    holder = MigrationLock(db)
    assert await holder.try_acquire()
    try:
        with pytest.raises(LockError, match="a migration run holds the migration lock of"):
            await restore(RestoreOptions(uri=mongo_uri, db=db_name, backup=name, lock_wait_s=0.2))
    finally:
        await holder.release()
    assert await raw_state(db, skip=("migration_lock",)) == before  # UUIDs too: no collection was replaced
    assert await databases(db) == [name]
