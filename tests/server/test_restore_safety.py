"""``restore`` starts only from a complete, verified backup this tool recorded; every refusal changes nothing.

A backup records itself as complete in ``__backup_manifest`` (with the digest of each collection);
an interrupted one still holds ``__backup_state`` and is refused even with ``force``.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import pytest
from bson import ObjectId
from pymongo.asynchronous.database import AsyncDatabase

from analytiq_data.backup import BackupOptions, backup
from analytiq_data.backup.manifest import read_manifest
from analytiq_data.backup.plan import MANIFEST_COLLECTION, STATE_COLLECTION
from analytiq_data.errors import ConfigurationError, ExitCode, VerificationError
from analytiq_data.safety import RestoreOptions, inspect_backup, restore
from tests.server.test_backup_resume import wait_until
from tests.server.test_rehearse_support import databases, raw_state


async def _fill(db: AsyncDatabase[Any], docs: int = 200) -> None:
    await db.users.insert_many([{"_id": i, "name": f"user {i}", "pad": "x" * (i % 50)} for i in range(docs)])
    await db.users.create_index("name", unique=True)
    await db.create_collection("first_users", viewOn="users", pipeline=[{"$limit": 3}])


async def test_a_complete_backup_records_what_it_holds(mongo_uri: str, db_name: str, db: AsyncDatabase[Any]) -> None:
    await _fill(db)
    bk = db.client[f"{db_name}_bk"]
    result = await backup(BackupOptions(src_uri=mongo_uri, src_db=db_name, dest_db=bk.name))

    manifest = await read_manifest(bk)
    assert manifest is not None
    assert (manifest.verified, manifest.src_db, manifest.documents, manifest.resumed) == (True, db_name, 200, False)
    (users,) = [e for e in manifest.entries if e.name == "users"]
    assert users.digest == result.collections[0].source  # the digest the verification compared
    assert [(e.name, e.kind, e.digest) for e in manifest.entries if e.kind == "view"] == [("first_users", "view", None)]
    names = await bk.list_collection_names()
    assert MANIFEST_COLLECTION in names and STATE_COLLECTION not in names

    unverified = db.client[f"{db_name}_nv"]
    await backup(BackupOptions(src_uri=mongo_uri, src_db=db_name, dest_db=unverified.name, verify=False))
    recorded = await read_manifest(unverified)
    assert recorded is not None and recorded.verified is None


async def test_an_interrupted_backup_is_refused_even_with_force(
    mongo_uri: str, db_name: str, db: AsyncDatabase[Any]
) -> None:
    """The issue's case: a partial copy replaced an 89,209-document database."""
    source = db.client[f"{db_name}_src"]
    await source.big.insert_many([{"_id": ObjectId(), "i": i, "pad": "y" * 100} for i in range(12_000)])
    await _fill(db)
    before = await raw_state(db)
    options = BackupOptions(
        src_uri=mongo_uri, src_db=source.name, dest_db=f"{db_name}_bk", range_docs=2_000, parallel=1, batch_size=500
    )
    task = asyncio.create_task(backup(options))
    state = db.client[options.dest_db][STATE_COLLECTION]
    await wait_until(lambda: state.find_one({"_id.range": {"$exists": True}}))
    task.cancel()  # as Ctrl-C would
    with contextlib.suppress(asyncio.CancelledError):
        await task

    for force in (False, True):
        with pytest.raises(ConfigurationError, match="is an interrupted backup") as err:
            await restore(RestoreOptions(uri=mongo_uri, db=db_name, backup=options.dest_db, force=force))
        assert err.value.exit_code == ExitCode.CONFIGURATION
        assert f"--src {source.name} --dest {options.dest_db} --resume" in (err.value.hint or "")
    with pytest.raises(ConfigurationError, match="is an interrupted backup"):
        await inspect_backup(RestoreOptions(uri=mongo_uri, db=db_name, backup=options.dest_db))
    assert await raw_state(db) == before
    assert await databases(db) == sorted([options.dest_db, source.name])  # no lock database left


async def test_a_plain_database_is_refused_unless_forced(mongo_uri: str, db_name: str, db: AsyncDatabase[Any]) -> None:
    """The issue's case: a database holding only a view emptied the target."""
    await _fill(db)
    before = await raw_state(db)
    only_view = db.client[f"{db_name}_view"]
    await only_view.create_collection("v", viewOn="users", pipeline=[])
    with pytest.raises(ConfigurationError, match="is not a backup recorded by this tool") as err:
        await restore(RestoreOptions(uri=mongo_uri, db=db_name, backup=only_view.name))
    assert "--force" in (err.value.hint or "")

    plain = db.client[f"{db_name}_plain"]
    await plain.users.insert_many([{"_id": i, "name": f"other {i}"} for i in range(5)])
    with pytest.raises(ConfigurationError, match="is not a backup recorded by this tool"):
        await restore(RestoreOptions(uri=mongo_uri, db=db_name, backup=plain.name))
    assert await raw_state(db) == before

    result = await restore(RestoreOptions(uri=mongo_uri, db=db_name, backup=plain.name, force=True))
    assert result.verified and result.documents == 5
    assert await db.users.count_documents({}) == 5


async def test_a_backup_holding_no_documents_does_not_empty_a_database_unless_forced(
    mongo_uri: str, db_name: str, db: AsyncDatabase[Any]
) -> None:
    empty = db.client[f"{db_name}_empty"]
    await empty.create_collection("users")
    bk = f"{db_name}_bk"
    await backup(BackupOptions(src_uri=mongo_uri, src_db=empty.name, dest_db=bk))
    await _fill(db)
    before = await raw_state(db)
    with pytest.raises(ConfigurationError, match="holds no documents") as err:
        await restore(RestoreOptions(uri=mongo_uri, db=db_name, backup=bk))
    assert "would empty the database" in err.value.message and "--force" in (err.value.hint or "")
    assert await raw_state(db) == before

    await restore(RestoreOptions(uri=mongo_uri, db=db_name, backup=bk, force=True))
    assert await db.users.count_documents({}) == 0


async def test_an_unverified_or_changed_backup_is_refused(mongo_uri: str, db_name: str, db: AsyncDatabase[Any]) -> None:
    await _fill(db)
    unverified, bk = f"{db_name}_nv", f"{db_name}_bk"
    await backup(BackupOptions(src_uri=mongo_uri, src_db=db_name, dest_db=unverified, verify=False))
    await backup(BackupOptions(src_uri=mongo_uri, src_db=db_name, dest_db=bk))
    await db.users.update_many({}, {"$set": {"changed": True}})
    before = await raw_state(db)

    with pytest.raises(ConfigurationError, match="was not verified when it was made"):
        await restore(RestoreOptions(uri=mongo_uri, db=db_name, backup=unverified))
    await db.client[bk].users.update_one({"_id": 7}, {"$set": {"name": "tampered"}})
    with pytest.raises(VerificationError, match="no longer holds what it held when it was made") as err:
        await restore(RestoreOptions(uri=mongo_uri, db=db_name, backup=bk))
    assert "users: document contents changed since the backup was made" in err.value.message
    assert await raw_state(db, skip=("migration_lock",)) == before  # (the lock was taken and released)
    assert await databases(db) == [bk, unverified]  # the lock database was removed

    await restore(RestoreOptions(uri=mongo_uri, db=db_name, backup=unverified, force=True))
    assert await db.users.count_documents({"changed": True}) == 0
