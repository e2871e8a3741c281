"""A backup refuses a source a migration is changing, and stops if a migration starts during the copy.

The backup engine reads the lock document without importing the migration engine; these tests take
the real lock (``MigrationLock``) so the two stay in step.
"""

from __future__ import annotations

import asyncio
import datetime
import socket
from subprocess import PIPE
from typing import Any

import pytest
from bson import ObjectId
from pymongo.asynchronous.database import AsyncDatabase

from analytiq_data.backup import BackupOptions, backup
from analytiq_data.backup.busy import busy_marker
from analytiq_data.backup.files import DumpOptions, dump
from analytiq_data.backup.plan import STATE_COLLECTION
from analytiq_data.errors import ConfigurationError, ExitCode, LockError
from analytiq_data.migrations.engine.lock import MigrationLock
from analytiq_data.migrations.engine.prestep import set_phase
from tests.migrations_fixtures.helpers import ROOT
from tests.server.test_backup_resume import cli, wait_until


async def test_a_held_migration_lock_refuses_the_backup_and_names_its_holder(
    mongo_uri: str, db_name: str, db: AsyncDatabase[Any]
) -> None:
    await db.users.insert_many([{"_id": i} for i in range(10)])
    lock = MigrationLock(db)
    assert await lock.try_acquire()
    dest = f"{db_name}_bk"
    try:
        with pytest.raises(LockError) as err:
            await backup(BackupOptions(src_uri=mongo_uri, src_db=db_name, dest_db=dest))
        assert err.value.exit_code == ExitCode.LOCK
        assert f"the migration lock ('migration_lock') held by {socket.gethostname()} (pid " in err.value.message
        assert dest not in await db.client.list_database_names()  # nothing was written

        args = ["--src-uri", mongo_uri, "--src", db_name, "--dest", dest]
        proc = await asyncio.create_subprocess_exec(*cli(*args), cwd=ROOT, stdout=PIPE, stderr=PIPE)
        _, raw_err = await asyncio.wait_for(proc.communicate(), 120)
        err_text = raw_err.decode()
        assert proc.returncode == 5
        assert err_text.startswith(f"backup_db.py: error: source database {db_name!r} on ")
        assert "is being changed: the migration lock" in err_text and err_text.count("\n") == 1

        await set_phase(lock, "backup")  # the holder is making a backup itself (up --backup): only reading
        assert await busy_marker(db) is None
        result2 = await backup(BackupOptions(src_uri=mongo_uri, src_db=db_name, dest_db=dest))
        assert result2.verified is True
    finally:
        await lock.release()


async def test_an_expired_lock_does_not_count(mongo_uri: str, db_name: str, db: AsyncDatabase[Any]) -> None:
    await db.users.insert_one({"_id": 1})
    past = datetime.datetime(2020, 1, 1, tzinfo=datetime.UTC)
    await db.migration_lock.insert_one({"_id": "migration_lock", "holder": "old-host", "expires_at": past})
    assert await busy_marker(db) is None
    result = await backup(BackupOptions(src_uri=mongo_uri, src_db=db_name, dest_db=f"{db_name}_bk"))
    assert result.verified is True


async def test_a_migration_starting_during_the_copy_stops_it_and_it_cannot_be_resumed(
    mongo_uri: str, db_name: str, db: AsyncDatabase[Any]
) -> None:
    await db.big.insert_many([{"_id": ObjectId(), "i": i, "pad": "z" * 200} for i in range(12_000)])
    dest = db.client[f"{db_name}_bk"]
    options = BackupOptions(
        src_uri=mongo_uri, src_db=db_name, dest_db=dest.name, range_docs=1_000, parallel=1, batch_size=500
    )
    task = asyncio.create_task(backup(options))
    await wait_until(lambda: dest[STATE_COLLECTION].find_one({"_id.range": {"$exists": True}}))
    lock = MigrationLock(db)
    assert await lock.try_acquire()  # a migration starts
    try:
        with pytest.raises(LockError, match="started being changed during the copy") as err:
            await task
        assert "--drop" in (err.value.hint or "")
        assert await dest[STATE_COLLECTION].find_one({"_id": "header", "unusable": {"$exists": True}})
    finally:
        await lock.release()
    with pytest.raises(ConfigurationError, match="cannot be resumed: the source started being changed"):
        await backup(BackupOptions(**{**options.__dict__, "resume": True}))
    result = await backup(BackupOptions(**{**options.__dict__, "drop": True}))
    assert result.verified is True and result.documents == 12_000


@pytest.mark.parametrize("form", ["archive", "out"])
async def test_a_held_migration_lock_refuses_a_dump_to_files_and_writes_nothing(
    mongo_uri: str, db_name: str, db: AsyncDatabase[Any], tmp_path: Any, form: str
) -> None:
    await db.users.insert_many([{"_id": i} for i in range(10)])
    target = str(tmp_path / "dump")

    def options() -> DumpOptions:
        if form == "archive":
            return DumpOptions(src_uri=mongo_uri, src_db=db_name, archive=target)
        return DumpOptions(src_uri=mongo_uri, src_db=db_name, out=target)

    lock = MigrationLock(db)
    assert await lock.try_acquire()
    try:
        with pytest.raises(LockError) as err:
            await dump(options())
        assert err.value.exit_code == ExitCode.LOCK
        assert "is being changed: the migration lock" in err.value.message
        assert list(tmp_path.iterdir()) == []  # no file, no partial file, no empty --out directory
    finally:
        await lock.release()
    result = await dump(options())
    assert result.verified is True
