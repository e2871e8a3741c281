"""``up --backup`` / ``run_migrations(backup=True)``: a verified copy under the lock before the first step,
recorded in the history; restore after a failed step gives the original back; a waiter with a short
lock wait waits out the backup; a copy that does not verify stops the run before any step."""

from __future__ import annotations

import asyncio
import re
import time
from typing import Any

import pytest
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from analytiq_data.client import AnalytiqClient
from analytiq_data.errors import ConfigurationError, LockError, VerificationError
from analytiq_data.migrations import RunResult, StepFailedError, run_migrations
from analytiq_data.migrations.engine import verbs
from analytiq_data.migrations.engine.lock import MigrationLock
from analytiq_data.migrations.engine.options import RunOptions
from analytiq_data.migrations.engine.prestep import BeforeSteps, HookRecord
from analytiq_data.migrations.sample import generate_sample
from analytiq_data.safety import BackupFirst, RestoreOptions, backup_name, restore
from tests.migrations_fixtures import basic
from tests.migrations_fixtures import broken_migrations as broken
from tests.migrations_fixtures.helpers import effects, history_docs, version_doc, wait_until
from tests.recorders import Notes
from tests.server.test_rehearse_support import databases, raw_state

WAITER_LOCK_WAIT_S = 0.5


async def test_backup_then_a_failing_step_then_restore_gives_back_the_original(
    aclient: AnalytiqClient, db: AsyncDatabase[Any], mongo_uri: str, db_name: str
) -> None:
    await generate_sample(db, docs=60, seed=11)
    before = await raw_state(db, identity=False)
    with pytest.raises(StepFailedError) as caught:
        await run_migrations(aclient, migrations=broken.FAILS_AFTER_TWO, backup=True)
    assert caught.value.version == 3
    assert (await version_doc(db) or {})["version"] == 2
    assert await db.documents.count_documents({"reviewed": True}) == 30  # the half-way writes stayed

    history = await history_docs(db)
    (record,) = [d for d in history if d["direction"] == "backup"]
    name = record["backup"]
    try:
        await _check_backup_and_restore(db, mongo_uri, db_name, name, history, before)
    finally:
        await db.client.drop_database(name)  # its name may be shortened: not one the fixture drops


async def _check_backup_and_restore(
    db: AsyncDatabase[Any], mongo_uri: str, db_name: str, name: str, history: list[Any], before: Any
) -> None:
    record = next(d for d in history if d["direction"] == "backup")
    # <db>_backup_v<version>_<UTC yyyymmddHHMMSS>, <db> shortened to fit 63 bytes
    assert re.fullmatch(re.escape(backup_name(db_name, 0)[:-14]) + r"\d{14}", name) and len(name) == 63
    assert (record["name"], record["outcome"], record["version"]) == (name, "verified", 0)
    steps = [d for d in history if d["direction"] == "up"]
    assert [(d["version"], d["outcome"], d["backup"]) for d in steps] == [
        (1, "applied", name),
        (2, "applied", name),
        (3, "failed", name),
    ]
    backup_state = await raw_state(db.client[name], identity=False, skip=("__backup_manifest",))
    assert _pruned(backup_state) == before  # the backup is the original

    result = await restore(RestoreOptions(uri=mongo_uri, db=db_name, backup=name))
    assert result.verified and result.version == 0 and result.backup == name
    assert "migrations" in result.dropped and "migration_undo.OcrKeyMigration" in result.dropped  # not in the backup
    skip = ("migration_lock", "migration_history")
    assert await raw_state(db, identity=False, skip=skip) == _pruned(before)
    # The history survives the recovery (issue 22 §2): every record written after the backup stays (the backup's
    # own record, the failed step's error and traceback), and the restore is recorded.
    kept = await history_docs(db)
    assert [d for d in kept if d["direction"] != "restore"] == history
    (restored,) = [d for d in kept if d["direction"] == "restore"]
    assert (restored["name"], restored["outcome"], restored["version"], restored["from_version"]) == (
        name,
        "restored",
        0,
        2,
    )
    assert restored["carried"] == len(history)
    assert await db.migration_lock.count_documents({}) == 0
    assert db.name.startswith(db_name) and await databases(db) == []  # the lock database is gone
    assert name in await db.client.list_database_names()  # the backup stays


def _pruned(state: dict[str, Any]) -> dict[str, Any]:
    """Return ``state`` without an empty ``migration_history``: the runner's no-op ``update_many`` on the
    history before the backup creates the collection on SecantusDB (mongod does not create it)."""
    history = state.get("migration_history")
    if history is not None and not history["documents"]:
        return {k: v for k, v in state.items() if k != "migration_history"}
    return state


class GatedBackup:
    """A pre-step hook: report the backup phase, wait for the test's go signal, then make the real backup."""

    def __init__(self, inner: BackupFirst, signals: AsyncCollection[Any]) -> None:
        self.inner = inner
        self.signals = signals

    async def __call__(self, ctx: BeforeSteps) -> HookRecord:
        await ctx.set_phase("backup")
        await wait_until(self._go, "the test's go signal")
        return await self.inner(ctx)

    async def _go(self) -> bool:
        return await self.signals.find_one({"_id": "go"}) is not None


async def _phase(db: AsyncDatabase[Any]) -> str | None:
    doc = await db.migration_lock.find_one({"_id": "migration_lock"})
    return None if doc is None else doc.get("phase")


async def test_a_waiter_with_a_short_lock_wait_waits_out_the_backup(
    mongo_uri: str, db_name: str, db: AsyncDatabase[Any]
) -> None:
    await db.users.insert_one({"_id": 0, "name": "already here"})
    hook = GatedBackup(BackupFirst(mongo_uri), db.client[f"{db_name}_signals"].signals)
    holder_client = AnalytiqClient(uri=mongo_uri, env=db_name)
    waiter_client = AnalytiqClient(uri=mongo_uri, env=db_name)
    notes = Notes()
    tasks: list[asyncio.Task[RunResult]] = []
    try:
        holder = asyncio.create_task(verbs.up(holder_client, basic.MIGRATIONS, options=RunOptions(before_steps=hook)))
        tasks.append(holder)
        await wait_until(lambda: _is_backing_up(db), "the holder in its backup phase")
        started = time.monotonic()
        waiter = asyncio.create_task(
            verbs.up(
                waiter_client, basic.MIGRATIONS, options=RunOptions(lock_wait_s=WAITER_LOCK_WAIT_S), progress=notes
            )
        )
        tasks.append(waiter)

        async def waited_past_its_lock_wait() -> bool:
            return waiter.done() or time.monotonic() - started > 3 * WAITER_LOCK_WAIT_S

        await wait_until(waited_past_its_lock_wait, "the waiter to wait three times its lock wait")
        assert not waiter.done(), waiter.exception()
        assert any("backup phase" in line for line in notes.lines), notes.lines
        await hook.signals.insert_one({"_id": "go"})
        done, waited = await holder, await waiter
    finally:
        await hook.signals.update_one({"_id": "go"}, {"$set": {"at": "cleanup"}}, upsert=True)
        await asyncio.gather(*tasks, return_exceptions=True)  # both end before their clients close
        await holder_client.close()
        await waiter_client.close()
    assert [s.version for s in done.steps] == [1, 2, 3]
    assert waited.reached_by_other and waited.to_version == 3 and not waited.steps
    assert await effects(db) == {"1:up": 1, "2:up": 1, "3:up": 1}
    assert hook.inner.name is not None and hook.inner.name in await db.client.list_database_names()
    await db.client.drop_database(hook.inner.name)
    assert await _phase(db) is None


async def _is_backing_up(db: AsyncDatabase[Any]) -> bool:
    return await _phase(db) == "backup"


async def test_the_same_short_wait_fails_while_the_holder_is_not_backing_up(
    aclient: AnalytiqClient, db: AsyncDatabase[Any]
) -> None:
    other = MigrationLock(db)
    assert await other.try_acquire()
    try:
        t0 = time.monotonic()
        with pytest.raises(LockError, match="migration lock held by"):
            await verbs.up(aclient, basic.MIGRATIONS, options=RunOptions(lock_wait_s=WAITER_LOCK_WAIT_S))
        assert time.monotonic() - t0 < 30
    finally:
        await other.release()
    assert await version_doc(db) is None


async def test_a_backup_that_does_not_verify_or_cannot_be_made_stops_the_run_before_any_step(
    aclient: AnalytiqClient, db: AsyncDatabase[Any], db_name: str
) -> None:
    await db.users.insert_one({"_id": 0})

    async def differs(ctx: BeforeSteps) -> HookRecord:
        await ctx.set_phase("backup")
        raise VerificationError("verification failed for the copy: 1 document differs")

    with pytest.raises(VerificationError):
        await verbs.up(aclient, basic.MIGRATIONS, options=RunOptions(before_steps=differs))
    taken = db.client[f"{db_name}_taken"]
    await taken.x.insert_one({"_id": 1})
    with pytest.raises(ConfigurationError, match="not empty"):
        await run_migrations(aclient, migrations=basic.MIGRATIONS, backup=True, backup_db=taken.name)
    assert await version_doc(db) is None
    assert await effects(db) == {}
    assert await history_docs(db) == []
    assert await db.migration_lock.count_documents({}) == 0  # released


async def test_nothing_to_back_up_when_nothing_is_pending_or_the_database_is_empty(
    aclient: AnalytiqClient, db: AsyncDatabase[Any]
) -> None:
    first = await run_migrations(aclient, migrations=basic.MIGRATIONS, backup=True)  # an empty database
    assert [s.version for s in first.steps] == [1, 2, 3]
    assert first.recorded == {}  # no backup made, none named
    (record,) = [d for d in await history_docs(db) if d["direction"] == "backup"]
    assert record["outcome"] == "skipped" and "backup" not in record
    again = await run_migrations(aclient, migrations=basic.MIGRATIONS, backup=True)
    assert again.nothing_to_do
    assert len([d for d in await history_docs(db) if d["direction"] == "backup"]) == 1
    assert await databases(db) == []
    with pytest.raises(ConfigurationError, match="need backup=True"):
        await run_migrations(aclient, migrations=basic.MIGRATIONS, backup_db="x")


async def test_the_run_result_names_the_backup_it_made(aclient: AnalytiqClient, db: AsyncDatabase[Any]) -> None:
    await generate_sample(db, docs=20, seed=5)
    name = f"{db.name}_bk"
    try:
        result = await run_migrations(aclient, migrations=basic.MIGRATIONS, backup=True, backup_db=name)
        assert [s.version for s in result.steps] == [1, 2, 3]
        assert result.recorded == {"backup": name} and result.to_json()["recorded"] == {"backup": name}
        (record,) = [d for d in await history_docs(db) if d["direction"] == "backup"]
        assert record["backup"] == name and name in await db.client.list_database_names()
    finally:
        await db.client.drop_database(name)
