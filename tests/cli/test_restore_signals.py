"""Ctrl-C during ``analytiq-db restore`` (a real subprocess): before the swap the database is unchanged and the
partial load (``__restore.<name>`` beside each collection) is removed, the error line says so, and running the
same restore again finishes it."""

from __future__ import annotations

import asyncio
import signal
from subprocess import PIPE
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from analytiq_data.backup import BackupOptions, backup
from tests.migrations_fixtures.helpers import CLI, ROOT
from tests.server.test_backup_resume import wait_until
from tests.server.test_rehearse_support import databases, raw_state

DOCS = 10_000


async def test_ctrl_c_while_the_backup_is_rebuilt_changes_nothing_and_a_rerun_finishes(
    mongo_uri: str, db_name: str, db: AsyncDatabase[Any]
) -> None:
    await db.big.insert_many([{"_id": i, "pad": "p" * 200} for i in range(DOCS)])
    bk = f"{db_name}_bk"
    await backup(BackupOptions(src_uri=mongo_uri, src_db=db_name, dest_db=bk))
    await db.big.update_many({"_id": {"$lt": 100}}, {"$set": {"changed": True}})
    before = await raw_state(db)
    staged = db["__restore.big"]
    command = [CLI, "restore", "--uri", mongo_uri, "--db", db_name, "--from", bk, "--yes"]

    proc = await asyncio.create_subprocess_exec(*command, cwd=ROOT, stdout=PIPE, stderr=PIPE)
    try:

        async def rebuilding() -> bool:
            return await staged.estimated_document_count() > 0

        await wait_until(rebuilding)
        assert proc.returncode is None, "the restore finished before it could be interrupted"
        proc.send_signal(signal.SIGINT)
        _, err = await asyncio.wait_for(proc.communicate(), 120)
    finally:
        if proc.returncode is None:
            proc.kill()
    assert proc.returncode == 130, err.decode()
    assert err.decode().splitlines()[-1] == (
        f"analytiq-db: error: restore interrupted before the swap: database {db_name!r} is unchanged; "
        "the partial load was removed"
    )
    assert await databases(db) == [bk]  # no lock database left behind
    assert await raw_state(db) == before  # UUIDs too, and nothing of the tool's (no migration_lock, no __restore)

    rerun = await asyncio.create_subprocess_exec(*command, cwd=ROOT, stdout=PIPE, stderr=PIPE)
    out, err = await asyncio.wait_for(rerun.communicate(), 300)
    assert rerun.returncode == 0, err.decode()
    assert out.decode().startswith(f"restored database {db_name} from backup {bk}")
    assert await db.big.count_documents({"changed": True}) == 0 and await db.big.count_documents({}) == DOCS
