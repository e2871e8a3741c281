"""The version a restore reads is read as the migration engine reads it (one parse, ``state.parse_version``):
1.5 or a string is never recorded as 1 (or 0) silently. The loaded backup's version is refused as the
engine refuses it; the target's own, which the restore replaces, is recorded as 0 and said in the result."""

from __future__ import annotations

from typing import Any

import pytest
from pymongo.asynchronous.database import AsyncDatabase

from analytiq_data.backup import BackupOptions, backup
from analytiq_data.errors import MigrationError
from analytiq_data.migrations.engine.state import VERSION_ID, StateStore
from analytiq_data.safety import RestoreOptions, restore
from analytiq_data.safety.restore_run import read_version


@pytest.mark.parametrize("value", [1.5, "two", True, None])
async def test_a_version_that_is_not_a_whole_number_is_refused_as_the_engine_refuses_it(
    db: AsyncDatabase[Any], value: object
) -> None:
    await db["staged_versions"].insert_one({"_id": VERSION_ID, "version": value})
    with pytest.raises(MigrationError, match=r"the version document holds .*, not a whole number") as ours:
        await read_version(db, "staged_versions")
    await db["migrations"].insert_one({"_id": VERSION_ID, "version": value})
    with pytest.raises(MigrationError) as engine:
        await StateStore(db).read_version()
    assert (ours.value.message, ours.value.hint) == (engine.value.message, engine.value.hint)


@pytest.mark.parametrize(("doc", "expected"), [(None, 0), ({}, 0), ({"version": 3}, 3), ({"version": 2.0}, 2)])
async def test_a_whole_version_is_read_as_the_engine_reads_it(
    db: AsyncDatabase[Any], doc: dict[str, Any] | None, expected: int
) -> None:
    if doc is not None:
        await db["staged_versions"].insert_one({"_id": VERSION_ID, **doc})
        await db["migrations"].insert_one({"_id": VERSION_ID, **doc})
    assert await read_version(db, "staged_versions") == expected
    assert (await StateStore(db).read_version()).version == expected


async def test_a_restore_over_a_database_whose_version_is_unreadable_replaces_it_and_says_so(
    mongo_uri: str, db_name: str, db: AsyncDatabase[Any]
) -> None:
    # The restore replaces the damaged document: refusing it would block the recovery of that very database.
    backup_db = f"{db_name}_bk"
    await db.migrations.insert_one({"_id": VERSION_ID, "version": 3})
    await db.things.insert_one({"_id": 1})
    await db.migration_history.insert_one({"version": 3, "direction": "up", "outcome": "applied"})
    await backup(BackupOptions(src_uri=mongo_uri, src_db=db_name, dest_db=backup_db))
    await db.migrations.update_one({"_id": VERSION_ID}, {"$set": {"version": "two"}})
    result = await restore(RestoreOptions(uri=mongo_uri, db=db_name, backup=backup_db))
    assert result.version == 3
    assert any("version document was unreadable" in n and "'two'" in n for n in result.notes), result.notes
    assert (await StateStore(db).read_version()).version == 3
    record = await db.migration_history.find_one({"from_version": {"$exists": True}}, sort=[("started_at", -1)])
    assert record is not None and record["from_version"] == 0 and "restored from" in record["description"]
