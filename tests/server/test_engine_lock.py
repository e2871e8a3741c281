"""One runner at a time: concurrent runner processes, a SIGKILLed holder, the original code's lock,
a lost lease, and ``unlock``."""

from __future__ import annotations

import signal
import socket
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pymongo.asynchronous.database import AsyncDatabase

import analytiq_data as ad
from analytiq_data.client import AnalytiqClient
from analytiq_data.errors import LockError
from analytiq_data.migrations import Migration
from tests.migrations_fixtures import basic
from tests.migrations_fixtures.helpers import CliProcess, effects, history_docs, start_cli, version_doc, wait_until

BLOCKING = "tests.migrations_fixtures.blocking:MIGRATIONS"


def _up(tmp_path: Path, name: str, uri: str, db_name: str, *extra: str) -> CliProcess:
    return start_cli(tmp_path, name, "up", "--uri", uri, "--db", db_name, "--migrations", BLOCKING, *extra)


async def test_eight_runner_processes_apply_each_step_exactly_once(
    tmp_path: Path, mongo_uri: str, db_name: str, db: AsyncDatabase[Any]
) -> None:
    runners = [_up(tmp_path, f"r{i}", mongo_uri, db_name, "--lock-wait", "90") for i in range(8)]
    try:
        # One runner is inside step 2 (its transaction open) ...
        await wait_until(lambda: _exists(db, "entered"), "a runner inside step 2")
        # ... and every other one is waiting for the lock: all eight are contending.
        others = [r for r in runners if "waiting up to 90s for the migration lock held by" in r.stderr()]

        async def all_waiting() -> bool:
            others[:] = [r for r in runners if "waiting up to 90s for the migration lock held by" in r.stderr()]
            return len(others) == 7

        await wait_until(all_waiting, "seven runners waiting for the lock")
        await db.signals.insert_one({"_id": "go"})
        codes = [r.wait(90) for r in runners]
    finally:
        for r in runners:
            r.stop()
    assert codes == [0] * 8, [r.stderr() for r in runners]
    assert await effects(db) == {"1:up": 1, "2:up": 1, "3:up": 1}
    assert (await version_doc(db) or {})["version"] == 3
    migrated = [r for r in runners if "version 0 → 3 (3 steps applied)" in r.stdout()]
    assert len(migrated) == 1
    assert all("is at version 3: another runner brought it there" in r.stdout() for r in others)
    records = await history_docs(db)
    assert [(d["version"], d["outcome"]) for d in records] == [(1, "applied"), (2, "applied"), (3, "applied")]
    assert {d["pid"] for d in records} == {migrated[0].proc.pid}
    assert await db.migration_lock.count_documents({}) == 0


async def _exists(db: AsyncDatabase[Any], signal_id: str) -> bool:
    return await db.signals.find_one({"_id": signal_id}) is not None


async def test_holder_killed_mid_step_is_taken_over(
    tmp_path: Path, mongo_uri: str, db_name: str, db: AsyncDatabase[Any]
) -> None:
    first = _up(tmp_path, "first", mongo_uri, db_name, "--lease", "2")
    second: CliProcess | None = None
    try:
        await wait_until(lambda: _exists(db, "entered"), "the first runner inside step 2")
        lock = await db.migration_lock.find_one({"_id": "migration_lock"})
        assert lock is not None and lock["pid"] == first.proc.pid and lock.get("txn_lsid")
        first.proc.send_signal(signal.SIGKILL)
        assert first.wait(30) == -signal.SIGKILL
        await db.signals.insert_one({"_id": "go"})
        second = _up(tmp_path, "second", mongo_uri, db_name, "--lease", "2", "--lock-wait", "60")
        assert second.wait(90) == 0, second.stderr()
    finally:
        first.stop()
        if second is not None:
            second.stop()
    # On this host the dead holder is known to be gone: taken over at once (test_engine_dead_runner.py).
    assert f"took over the migration lock of {socket.gethostname()} (pid {first.proc.pid}) since " in second.stderr()
    assert "that process no longer exists on this host" in second.stderr()
    # The dead runner's open transaction was killed: its increment of step 2 never landed.
    assert await effects(db) == {"1:up": 1, "2:up": 1, "3:up": 1}
    assert (await version_doc(db) or {})["version"] == 3
    outcomes = [(d["version"], d["outcome"], d["pid"]) for d in await history_docs(db)]
    assert outcomes == [
        (1, "applied", first.proc.pid),
        (2, "interrupted", first.proc.pid),
        (2, "applied", second.proc.pid),
        (3, "applied", second.proc.pid),
    ]
    assert await db.migration_lock.count_documents({}) == 0


async def test_the_original_codes_live_lock_is_respected(aclient: AnalytiqClient, db: AsyncDatabase[Any]) -> None:
    now = datetime.now(UTC)
    await db.migration_lock.insert_one(
        {"_id": "migration_lock", "holder": "old-pod-7", "locked_at": now, "expires_at": now + timedelta(seconds=300)}
    )
    with pytest.raises(LockError) as info:
        await ad.migrations.run_migrations(aclient, migrations=basic.MIGRATIONS, lock_wait_s=0.3)
    line = info.value.user_line()
    assert line.startswith("migration lock held by old-pod-7 since ")
    assert "(waited 0.3s); its lease ends at " in line
    assert await effects(db) == {} and await version_doc(db) is None

    with pytest.raises(LockError, match="the migration lock is live: held by old-pod-7 since "):
        await ad.migrations.unlock(aclient)
    cleared = await ad.migrations.unlock(aclient, force=True)
    assert cleared.cleared and cleared.lock is not None and cleared.lock.holder == "old-pod-7"
    result = await ad.migrations.run_migrations(aclient, migrations=basic.MIGRATIONS, lock_wait_s=0.3)
    assert result.to_version == 3


async def test_an_expired_lock_is_taken_over_and_unlock_says_who_held_it(
    aclient: AnalytiqClient, db: AsyncDatabase[Any]
) -> None:
    past = datetime.now(UTC) - timedelta(seconds=600)
    doc = {
        "_id": "migration_lock",
        "holder": "old-pod-3",
        "locked_at": past,
        "expires_at": past + timedelta(seconds=300),
    }
    await db.migration_lock.insert_one(doc)
    unlocked = await ad.migrations.unlock(aclient)
    assert unlocked.cleared and unlocked.lock is not None and not unlocked.lock.live
    assert unlocked.lock.describe().startswith("old-pod-3 since ")
    assert (await ad.migrations.unlock(aclient)).lock is None

    await db.migration_lock.insert_one(doc)
    result = await ad.migrations.run_migrations(aclient, migrations=basic.MIGRATIONS, lock_wait_s=0)
    assert result.to_version == 3 and await db.migration_lock.count_documents({}) == 0


class StealsTheLockMigration(Migration):
    """Simulate another runner taking the lease over while this step runs."""

    async def up(self, db: AsyncDatabase[Any]) -> bool:
        await db.partial.insert_one({"_id": "written by the step"})
        async with db.client.start_session() as side:  # outside the step's transaction
            await db.migration_lock.update_one({"_id": "migration_lock"}, {"$set": {"token": "thief"}}, session=side)
        return True

    async def down(self, db: AsyncDatabase[Any]) -> bool:
        return True


async def test_a_runner_that_lost_its_lease_does_not_commit_or_go_on(
    aclient: AnalytiqClient, db: AsyncDatabase[Any]
) -> None:
    migrations = [StealsTheLockMigration(), basic.SeedUsersMigration()]
    with pytest.raises(LockError) as info:
        await ad.migrations.run_migrations(aclient, migrations=migrations)
    assert info.value.message == "lost the migration lock: its lease expired and another runner took it over"
    assert await version_doc(db) is None  # nothing committed
    assert await db.partial.count_documents({}) == 0 and await effects(db) == {}
    # The thief's lease is left alone.
    assert (await db.migration_lock.find_one({"_id": "migration_lock"}) or {}).get("token") == "thief"


async def test_killed_non_idempotent_step_leaves_the_database_dirty(
    tmp_path: Path, mongo_uri: str, db_name: str, db: AsyncDatabase[Any]
) -> None:
    spec = "tests.migrations_fixtures.blocking:NOT_IDEMPOTENT"
    args = ("up", "--uri", mongo_uri, "--db", db_name, "--migrations", spec, "--lease", "1")
    first = start_cli(tmp_path, "first", *args)
    try:
        await wait_until(lambda: _exists(db, "entered"), "the first runner inside step 2")
        first.proc.send_signal(signal.SIGKILL)
        first.wait(30)
    finally:
        first.stop()
    await db.signals.insert_one({"_id": "go"})
    second = start_cli(tmp_path, "second", *args, "--lock-wait", "30")
    try:
        code = second.wait(60)
    finally:
        second.stop()
    assert code == 6
    line = second.stderr().splitlines()[-1]
    assert line.startswith(
        "analytiq-db: error: the database is dirty: version 2 (WaitForGoNotIdempotentMigration, idempotent = False) "
        "was interrupted going up outside a transaction at "
    )
    assert await effects(db) == {"1:up": 1, "2:up": 1}  # the step did not run again
