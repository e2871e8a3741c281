"""Per-step time limits and the running step in ``status`` (issue 22 §4): a hung step is cancelled past
its limit and fails like any failed step, the lock released; one that ignores the cancel leaves its
lease to expire; one blocked in synchronous code stops renewing its lease meanwhile. And ``stamp``
down over applied steps asks for ``--yes``, naming the steps that would run again."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import threading
from pathlib import Path
from typing import Any

import pytest
from pymongo import MongoClient
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.collection import Collection

import analytiq_data as ad
from analytiq_data.client import AnalytiqClient
from analytiq_data.errors import ConfigurationError
from analytiq_data.migrations.engine.results import StepFailedError
from tests.migrations_fixtures import basic, failing, misbehaving
from tests.migrations_fixtures.helpers import CLI, ROOT, effects, history_docs, start_cli, version_doc, wait_until

HANGS = "tests.migrations_fixtures.misbehaving:HANGS_NO_LIMIT"
BLOCKING = "tests.migrations_fixtures.blocking:MIGRATIONS"


def _cli(uri: str, db_name: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CLI, *args, "--uri", uri, "--db", db_name], cwd=ROOT, capture_output=True, text=True, timeout=90
    )


async def test_a_step_past_its_time_limit_is_cancelled_rolled_back_and_the_lock_released(
    aclient: AnalytiqClient, db: AsyncDatabase[Any]
) -> None:
    run = ad.migrations.run_migrations(aclient, migrations=misbehaving.HANGS)
    with pytest.raises(StepFailedError) as info:
        await asyncio.wait_for(run, 30)  # without a limit the step would wait for ever
    assert info.value.user_line() == (
        "version 2 (HangsMigration) failed (up): the step ran past its time limit of 0.3s and was cancelled — the "
        "database is at version 1; its writes were rolled back; make the step faster or give it more time (its "
        "class's time_limit_s, or --step-time-limit); the traceback is in analytiq-db history"
    )
    assert (await version_doc(db) or {})["version"] == 1
    assert await effects(db) == {"1:up": 1}
    assert [(d["version"], d["outcome"]) for d in await history_docs(db)] == [(1, "applied"), (2, "failed")]
    assert await db.migration_lock.count_documents({}) == 0



async def test_run_migrations_many_takes_the_step_time_limit(aclient: AnalytiqClient, db: AsyncDatabase[Any]) -> None:
    """``run_migrations_many`` had no ``step_time_limit_s``: a hung step there waited for ever."""
    run = ad.migrations.run_migrations_many(
        aclient, databases=[db.name], migrations=misbehaving.HANGS_NO_LIMIT, step_time_limit_s=0.3
    )
    (record,) = (await asyncio.wait_for(run, 30)).databases
    assert (record.exit_code, record.version) == (6, 1)
    assert "ran past its time limit of 0.3s and was cancelled" in (record.error or "")
    assert await db.migration_lock.count_documents({}) == 0

def test_step_time_limit_from_the_command_line_and_the_environment(mongo_uri: str, db_name: str) -> None:
    result = _cli(mongo_uri, db_name, "up", "--migrations", HANGS, "--step-time-limit", "0.5")
    assert result.returncode == 6, result.stderr
    assert result.stderr.splitlines()[-1].startswith(
        "analytiq-db: error: version 2 (HangsWithoutLimitMigration) failed (up): the step ran past its time limit "
        "of 0.5s and was cancelled — the database is at version 1; its writes were rolled back"
    )
    env_run = subprocess.run(
        [CLI, "up", "--migrations", HANGS, "--uri", mongo_uri, "--db", db_name],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=90,
        env={**os.environ, "ANALYTIQ_DB_STEP_TIME_LIMIT": "0.4"},
    )
    assert env_run.returncode == 6 and "time limit of 0.4s" in env_run.stderr.splitlines()[-1]


async def test_a_step_that_ignores_the_cancel_leaves_its_lease_to_expire(
    aclient: AnalytiqClient, db: AsyncDatabase[Any]
) -> None:
    with pytest.raises(StepFailedError) as info:
        await ad.migrations.run_migrations(aclient, migrations=misbehaving.IGNORES_CANCEL, lease_s=1)
    assert info.value.user_line().startswith(
        "version 2 (IgnoresCancelMigration) failed (up): the step ran past its time limit of 0.2s and did not stop "
        "when cancelled (its lease is left to expire) — the database is at version 1; it is still running in this "
        "process, so its writes may still land; the lock is released when its lease ends"
    )
    try:
        lock = await ad.migrations.status(aclient, migrations=misbehaving.IGNORES_CANCEL)
        assert lock.lock is not None  # not deleted: the step may still write

        async def lease_ended() -> bool:
            status = await ad.migrations.status(aclient, migrations=misbehaving.IGNORES_CANCEL)
            return status.lock is None or not status.lock.live

        await wait_until(lease_ended, "the abandoned lease to end (no renewal)", limit_s=30)
    finally:
        await db.signals.insert_one({"_id": "go"})

        async def stray_ended() -> bool:  # its clients were closed with the run: its next operation fails
            return not any("_execute_reporting" in repr(t.get_coro()) for t in asyncio.all_tasks())

        await wait_until(stray_ended, "the stray step to end")
    # Whatever it did after it was given up on, it recorded nothing: the lease counts as lost.
    assert (await version_doc(db) or {})["version"] == 1
    assert [(d["version"], d["outcome"]) for d in await history_docs(db)] == [(1, "applied"), (2, "failed")]


async def test_a_step_blocking_the_event_loop_stops_renewing_its_lease_then_fails_past_its_limit(
    aclient: AnalytiqClient, mongo_uri: str, db: AsyncDatabase[Any]
) -> None:
    misbehaving.UNBLOCK.clear()
    saw: list[str] = []

    def watch() -> None:  # another thread: the blocked loop cannot run anything
        sync: MongoClient[dict[str, Any]]
        with MongoClient(mongo_uri) as sync:
            coll: Collection[dict[str, Any]] = sync[db.name]["migration_lock"]
            expired = {"_id": "migration_lock", "$expr": {"$lt": [{"$toLong": "$expires_at"}, {"$toLong": "$$NOW"}]}}
            for _ in range(3000):
                if sync[db.name].signals.find_one({"_id": "unblocked"}) is None and coll.find_one(expired):
                    saw.append("lease expired while the step was blocked")
                    break
                threading.Event().wait(0.02)  # poll the condition
        misbehaving.UNBLOCK.set()

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        with pytest.raises(StepFailedError) as info:
            await ad.migrations.run_migrations(aclient, migrations=misbehaving.BLOCKS_THE_LOOP, lease_s=0.5)
    finally:
        misbehaving.UNBLOCK.set()
        watcher.join(60)
    assert saw == ["lease expired while the step was blocked"]  # another runner could have taken over
    assert info.value.user_line().startswith(
        "version 2 (BlocksTheLoopMigration) failed (up): the step ran past its time limit of 0.2s and was cancelled"
    )
    assert [(d["version"], d["outcome"]) for d in await history_docs(db)] == [(1, "applied"), (2, "failed")]


async def test_status_shows_the_running_step_and_how_long_it_has_run(
    tmp_path: Path, mongo_uri: str, db_name: str, db: AsyncDatabase[Any]
) -> None:
    runner = start_cli(tmp_path, "runner", "up", "--uri", mongo_uri, "--db", db_name, "--migrations", BLOCKING)
    try:

        async def entered() -> bool:
            return await db.signals.find_one({"_id": "entered"}) is not None

        await wait_until(entered, "the runner inside step 2")
        result = _cli(mongo_uri, db_name, "status", "--migrations", BLOCKING)
        line = next(x for x in result.stdout.splitlines() if x.startswith("! a migration is running"))
        assert "; version 2 (WaitForGoMigration) up, running for " in line
        data = json.loads(_cli(mongo_uri, db_name, "status", "--json", "--migrations", BLOCKING).stdout)
        step = data["lock"]["step"]
        assert (step["version"], step["name"], step["direction"], step["time_limit_s"]) == (
            2,
            "WaitForGoMigration",
            "up",
            None,
        )
        assert step["running_s"] >= 0
        await db.signals.insert_one({"_id": "go"})
        assert runner.wait(60) == 0, runner.stderr()
    finally:
        runner.stop()
    assert await db.migration_lock.count_documents({}) == 0


# --- stamp below the current version ---


async def test_stamp_down_over_applied_steps_asks_for_yes_naming_them(
    aclient: AnalytiqClient, mongo_uri: str, db_name: str, db: AsyncDatabase[Any]
) -> None:
    await ad.migrations.run_migrations(aclient, migrations=failing.NOT_IDEMPOTENT)
    spec = "tests.migrations_fixtures.failing:NOT_IDEMPOTENT"
    result = _cli(mongo_uri, db_name, "stamp", "0", "--migrations", spec)
    assert result.returncode == 3, result.stderr
    assert result.stderr.splitlines()[-1] == (
        "analytiq-db: error: stamp 0 would record versions 1 (SeedUsersMigration) and 2 (NotIdempotentMigration, "
        "not idempotent) as not applied (the database is at version 2): the next up runs them again; nothing "
        "changed — to revert them use down --to 0; if their changes are really not in the data, run stamp again "
        "with --yes"
    )
    assert (await version_doc(db) or {})["version"] == 2

    with pytest.raises(ConfigurationError, match=r"^stamp 1 would record version 2 \(NotIdempotentMigration"):
        await ad.migrations.stamp(aclient, 1, migrations=failing.NOT_IDEMPOTENT)
    result = _cli(mongo_uri, db_name, "stamp", "1", "--yes", "--migrations", spec)
    assert result.returncode == 0 and "recorded version 1 (was 2); no step ran" in result.stdout
    assert (await ad.migrations.stamp(aclient, 0, migrations=failing.NOT_IDEMPOTENT, rerun_ok=True)).to_version == 0
    assert (await ad.migrations.stamp(aclient, 3, migrations=basic.MIGRATIONS)).to_version == 3  # up: no question
