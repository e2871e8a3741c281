"""The restore's load area and swap (issue 18) on a real server: nothing of the tool left in the target, the lease
renewed in its own database during the swap, every kind of namespace kept, other clients' writes told apart from a
damaged backup (issue 17 §3), and the history kept across a restore from files (issue 22 §2).

Pauses use the file handshake ``ANALYTIQ_TEST_RESTORE_PAUSE`` (the tool writes ``paused-<point>`` and waits for
``go-<point>``): never a sleep.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from pymongo.asynchronous.database import AsyncDatabase

from analytiq_data.backup import BackupOptions, backup
from analytiq_data.backup.files import DumpFileError, DumpOptions, dump
from analytiq_data.backup.plan import MANIFEST_COLLECTION
from analytiq_data.client import AnalytiqClient
from analytiq_data.errors import ConfigurationError, ExitCode
from analytiq_data.migrations import StepFailedError, run_migrations
from analytiq_data.migrations.sample import generate_sample
from analytiq_data.safety import FileRestoreOptions, RestoreOptions, restore, restore_files
from analytiq_data.safety.restore_guard import TargetInUse
from analytiq_data.safety.restore_run import PAUSE_ENV
from tests.migrations_fixtures import broken_migrations as broken
from tests.migrations_fixtures.helpers import history_docs
from tests.server.dump_fixture import build_dump_fixture, state
from tests.server.test_backup_consistent import await_file
from tests.server.test_backup_resume import wait_until
from tests.server.test_rehearse_support import databases, raw_state


async def _damage(db: AsyncDatabase[Any]) -> None:
    """Change a database the ways a bad migration could (so that every collection of the backup replaces one)."""
    await db.users.update_many({"_id": {"$lt": 10}}, {"$inc": {"age": 1}})
    await db.users.drop_index("tags_partial")
    await db.orders.delete_many({})
    await db.drop_collection("adults")
    await db.log.drop()
    await db.create_collection("log")
    await db.extra.insert_one({"_id": "left over"})


def _tool_names(names: list[str]) -> list[str]:
    return [n for n in names if n == "migration_lock" or n.startswith("__restore")]


async def test_a_damaged_dump_refused_part_way_leaves_the_target_exactly_as_it_was(
    mongo_uri: str, db_name: str, db: AsyncDatabase[Any], tmp_path: Path
) -> None:
    """Issue 17 §3: the refusal said "untouched" yet left an empty ``migration_lock`` collection behind."""
    await build_dump_fixture(db, users=300)
    archive = tmp_path / "a.archive"
    await dump(DumpOptions(src_uri=mongo_uri, src_db=db_name, archive=str(archive)))
    data = bytearray(archive.read_bytes())
    data[data.index(b"u150@example.com")] ^= 0x20  # a flipped byte: the CRC-64 fails at the collection's end
    archive.write_bytes(bytes(data))
    await _damage(db)
    before = await raw_state(db)  # UUIDs too: no collection was replaced
    with pytest.raises(DumpFileError, match="fails its CRC-64 check") as refused:
        await restore_files(FileRestoreOptions(uri=mongo_uri, db=db_name, archive=str(archive)))
    assert refused.value.exit_code == ExitCode.CONFIGURATION
    assert await raw_state(db) == before
    assert _tool_names(await db.list_collection_names()) == []
    assert await databases(db) == []  # the lock's own database is gone too


@pytest.mark.parametrize("into", ["over the damaged database", "into a new database"])
@pytest.mark.parametrize("kind", ["from", "archive", "dir"])
async def test_a_restore_keeps_views_validators_capped_collated_ttl_and_gridfs_collections(
    mongo_uri: str, db_name: str, db: AsyncDatabase[Any], tmp_path: Path, kind: str, into: str
) -> None:
    """Over an existing database every collection is loaded beside and renamed in; into a new one, under its name.

    SecantusDB loses a collection's options (capped, collation, validator) on a rename, which mongod keeps: the
    swap builds such a collection again under its name; this test holds it to the backup either way.
    """
    await build_dump_fixture(db, users=300)
    expected = await state(db)
    bk = f"{db_name}_bk"
    await backup(BackupOptions(src_uri=mongo_uri, src_db=db_name, dest_db=bk))
    await dump(DumpOptions(src_uri=mongo_uri, src_db=db_name, archive=str(tmp_path / "a.archive")))
    await dump(DumpOptions(src_uri=mongo_uri, src_db=db_name, out=str(tmp_path / "dump")))
    target = db if into == "over the damaged database" else db.client[f"{db_name}_new"]
    if target is db:
        await _damage(db)
    if kind == "from":
        result = await restore(RestoreOptions(uri=mongo_uri, db=target.name, backup=bk))
    elif kind == "archive":
        result = await restore_files(
            FileRestoreOptions(uri=mongo_uri, db=target.name, archive=str(tmp_path / "a.archive"))
        )
    else:
        directory = str(tmp_path / "dump" / db_name)
        result = await restore_files(FileRestoreOptions(uri=mongo_uri, db=target.name, directory=directory))
    assert result.verified and set(result.views) == {"adults"}
    assert result.dropped == (("extra",) if target is db else ())
    assert await state(target) == expected
    natural = [doc["line"] async for doc in target.log.find().hint([("$natural", 1)])]
    assert natural == list(range(200))  # the capped collection keeps its insertion order
    assert _tool_names(await target.list_collection_names()) == []
    assert f"{target.name}__restore" not in await db.client.list_database_names()  # the lock's database is gone


async def test_the_lease_is_renewed_in_its_own_database_all_through_the_swap(
    mongo_uri: str, db_name: str, db: AsyncDatabase[Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 18: the lease renewal (an update of ``migration_lock`` in the target) waited 22.7 s behind the swap.

    With a short lease renewed every 0.1 s, the restore pauses in the middle of its swap; meanwhile the lease keeps
    being renewed in ``<db>__restore`` and the target never holds a lease; the restore then ends, leaving nothing.
    """
    await build_dump_fixture(db, users=300)
    bk = f"{db_name}_bk"
    await backup(BackupOptions(src_uri=mongo_uri, src_db=db_name, dest_db=bk))
    await _damage(db)
    monkeypatch.setenv(PAUSE_ENV, f"swap-1:{tmp_path}")
    task = asyncio.create_task(restore(RestoreOptions(uri=mongo_uri, db=db_name, backup=bk, lease_s=0.3)))
    try:
        await await_file(tmp_path / "paused-swap-1", "the restore to pause in the middle of its swap")
        lease = db.client[f"{db_name}__restore"].migration_lock
        first = await lease.find_one({"_id": "migration_lock"})
        assert first is not None and first.get("phase") == "restore"

        async def renewed_twice() -> bool:
            doc = await lease.find_one({"_id": "migration_lock"})
            return doc is not None and (doc["renewed_at"] - first["renewed_at"]).total_seconds() >= 0.15

        await wait_until(renewed_twice)
        assert "migration_lock" not in await db.list_collection_names()  # no lease in the database being swapped
    finally:
        (tmp_path / "go-swap-1").touch()
    result = await task
    assert result.verified
    assert _tool_names(await db.list_collection_names()) == []
    assert await databases(db) == [bk]


async def test_writes_by_another_client_during_the_load_stop_the_restore_before_the_swap(
    mongo_uri: str, db_name: str, db: AsyncDatabase[Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 17 §3: a restore beside a live writer exited 7 after the swap, blaming the dump."""
    await build_dump_fixture(db, users=300)
    bk = f"{db_name}_bk"
    await backup(BackupOptions(src_uri=mongo_uri, src_db=db_name, dest_db=bk))
    await _damage(db)
    monkeypatch.setenv(PAUSE_ENV, f"loaded:{tmp_path}")
    task = asyncio.create_task(restore(RestoreOptions(uri=mongo_uri, db=db_name, backup=bk)))
    try:
        await await_file(tmp_path / "paused-loaded", "the restore to finish loading")
        await db.users.update_one({"_id": 42}, {"$set": {"age": 7}})  # the application, still running
    finally:
        (tmp_path / "go-loaded").touch()
    with pytest.raises(TargetInUse) as refused:
        await task
    assert refused.value.exit_code == ExitCode.LOCK
    assert refused.value.message.startswith(
        f"another client wrote to database {db_name!r} during the restore (users: 1 write (seen by top)): "
        "the restore did not take effect"
    )
    assert (await db.users.find_one({"_id": 42}) or {})["age"] == 7  # the database is its own, with that write
    assert await db.extra.count_documents({}) == 1
    assert _tool_names(await db.list_collection_names()) == []
    assert await databases(db) == [bk]


async def test_writes_by_another_client_after_the_swap_are_told_with_the_restore_in_effect(
    mongo_uri: str, db_name: str, db: AsyncDatabase[Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An update does not change any count: the change stream opened before the swap sees it (a replica set)."""
    await build_dump_fixture(db, users=300)
    expected = await state(db)
    await dump(DumpOptions(src_uri=mongo_uri, src_db=db_name, archive=str(tmp_path / "a.archive")))
    await _damage(db)
    monkeypatch.setenv(PAUSE_ENV, f"swapped:{tmp_path}")
    options = FileRestoreOptions(uri=mongo_uri, db=db_name, archive=str(tmp_path / "a.archive"))
    task = asyncio.create_task(restore_files(options))
    try:
        await await_file(tmp_path / "paused-swapped", "the restore to finish its swap")
        await db.users.update_one({"_id": 42}, {"$set": {"age": 7}})
    finally:
        (tmp_path / "go-swapped").touch()
    with pytest.raises(TargetInUse) as told:
        await task
    assert told.value.message.startswith(
        f"the restore took effect ({db_name!r} holds archive {tmp_path / 'a.archive'} (database {db_name}) since "
        "the swap) but another client wrote to it after the swap (users: 1 write (seen by change stream))"
    )
    assert (await db.users.find_one({"_id": 42}) or {})["age"] == 7
    await db.users.update_one({"_id": 42}, {"$set": {"age": 42 % 90}})
    assert await state(db) == expected  # but for that write, the backup is in place
    assert _tool_names(await db.list_collection_names()) == []
    assert await databases(db) == []


async def test_the_history_survives_a_restore_from_files(
    aclient: AnalytiqClient, mongo_uri: str, db_name: str, db: AsyncDatabase[Any], tmp_path: Path
) -> None:
    """Issue 22 §2, for a dump: the records written after it (the backup's, the failed step's) stay; the restore
    is recorded; a kept record marked dirty no longer describes the data and is cleared."""
    await generate_sample(db, docs=40, seed=3)
    archive = tmp_path / "before.archive"
    await dump(DumpOptions(src_uri=mongo_uri, src_db=db_name, archive=str(archive)))
    name = f"{db_name}_bk"
    with pytest.raises(StepFailedError):
        await run_migrations(aclient, migrations=broken.FAILS_AFTER_TWO, backup=True, backup_db=name)
    await db.migration_history.update_one({"version": 3}, {"$set": {"dirty": True}})  # as a non-idempotent step
    history = await history_docs(db)
    result = await restore_files(FileRestoreOptions(uri=mongo_uri, db=db_name, archive=str(archive)))
    assert result.version == 0
    kept = await history_docs(db)
    assert [d["_id"] for d in kept if d["direction"] != "restore"] == [d["_id"] for d in history]
    assert [d["dirty"] for d in kept if d.get("version") == 3 and d["direction"] == "up"] == [False]
    (record,) = [d for d in kept if d["direction"] == "restore"]
    assert record["source"] == f"archive {archive} (database {db_name})" and record["from_version"] == 2
    assert record["outcome"] == "restored" and record["carried"] == len(history)
    assert await db.migrations.find_one({}) is None  # the version came back with the data: none recorded
    assert await raw_state(db.client[name], skip=(MANIFEST_COLLECTION,)) != {}  # the backup of up --backup stays


async def test_a_database_in_the_way_of_the_lock_is_never_dropped(
    mongo_uri: str, db_name: str, db: AsyncDatabase[Any]
) -> None:
    """The lock lives in ``<db>__restore``, dropped when the restore ends: a user's database of that name is refused."""
    await db.users.insert_one({"_id": 1})
    bk = f"{db_name}_bk"
    await backup(BackupOptions(src_uri=mongo_uri, src_db=db_name, dest_db=bk))
    theirs = db.client[f"{db_name}__restore"]
    await theirs.precious.insert_one({"_id": "keep me"})
    with pytest.raises(ConfigurationError, match=f"database '{theirs.name}' holds collections \\(precious\\)"):
        await restore(RestoreOptions(uri=mongo_uri, db=db_name, backup=bk))
    assert await theirs.precious.count_documents({}) == 1
    assert _tool_names(await db.list_collection_names()) == []
