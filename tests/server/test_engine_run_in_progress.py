"""A run in progress is never "nothing to do": a runner that finds the lock held waits, then decides
from the state it reads under the lock (issue 10, point 5).

The holder is a ``down --to 0`` stopped inside version 3's down (``held_down``): the lock is held
and the recorded version is still 3, the newest. Every test synchronises on state in the database
(``signals``) and on what the waiter says it does, never on sleeps.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from pymongo.asynchronous.database import AsyncDatabase

import analytiq_data as ad
from analytiq_data.client import AnalytiqClient
from analytiq_data.migrations import RunInterrupted, RunResult, StopRequest
from analytiq_data.migrations.engine.lock import MigrationLock
from tests.migrations_fixtures import held_down
from tests.migrations_fixtures.helpers import CliProcess, effects, start_cli, version_doc, wait_until
from tests.recorders import Notes

HELD = "tests.migrations_fixtures.held_down:MIGRATIONS"
WAITING = "waiting up to 60s for the migration lock held by"



async def _down_holding_the_lock(
    tmp_path: Path, mongo_uri: str, db_name: str, aclient: AnalytiqClient, db: AsyncDatabase[Any]
) -> CliProcess:
    """Bring the database to 3, start ``down --to 0`` and return it once it is inside version 3's down."""
    await ad.migrations.up(aclient, migrations=held_down.MIGRATIONS)
    down = start_cli(tmp_path, "down", "down", "--to", "0", "--uri", mongo_uri, "--db", db_name, "--migrations", HELD)
    await wait_until(lambda: _signalled(db, "down-entered"), "the down inside version 3's down")
    lock = await db.migration_lock.find_one({"_id": "migration_lock"})
    assert lock is not None and lock["pid"] == down.proc.pid
    assert (await version_doc(db) or {})["version"] == 3  # what a runner deciding without the lock sees
    return down


async def _signalled(db: AsyncDatabase[Any], signal_id: str) -> bool:
    return await db.signals.find_one({"_id": signal_id}) is not None


@pytest.mark.parametrize(
    ("verb", "final", "said"),
    [
        (("up",), 3, "version 0 → 3 (3 steps applied)"),
        (("up", "--to", "2"), 2, "version 0 → 2 (2 steps applied)"),
        (("stamp", "2"), 2, "recorded version 2 (was 0); no step ran"),
    ],
    ids=["up", "up-to", "stamp"],
)
async def test_a_verb_started_while_a_down_holds_the_lock_waits_and_acts_on_the_result(
    tmp_path: Path,
    mongo_uri: str,
    db_name: str,
    aclient: AnalytiqClient,
    db: AsyncDatabase[Any],
    verb: tuple[str, ...],
    final: int,
    said: str,
) -> None:
    down = await _down_holding_the_lock(tmp_path, mongo_uri, db_name, aclient, db)
    waiter: CliProcess | None = None
    try:
        args = (*verb, "--uri", mongo_uri, "--db", db_name, "--migrations", HELD, "--lock-wait", "60")
        waiter = start_cli(tmp_path, "waiter", *args)
        started = waiter

        async def waiting_or_ended() -> bool:
            return started.proc.poll() is not None or WAITING in started.stderr()

        await wait_until(waiting_or_ended, "the second runner to wait for the lock (or end)")
        assert waiter.proc.poll() is None, f"decided while a down held the lock: {waiter.stdout()}{waiter.stderr()}"
        await db.signals.insert_one({"_id": "go"})
        assert down.wait(60) == 0, down.stderr()
        assert waiter.wait(60) == 0, waiter.stderr()
    finally:
        down.stop()
        if waiter is not None:
            waiter.stop()
    assert "version 3 → 0 (3 steps reverted)" in down.stdout()
    assert said in waiter.stdout(), waiter.stdout()
    assert (await version_doc(db) or {})["version"] == final
    assert await db.migration_lock.count_documents({}) == 0


async def test_run_migrations_at_start_up_waits_for_a_down_in_progress_and_migrates_again(
    tmp_path: Path, mongo_uri: str, db_name: str, aclient: AnalytiqClient, db: AsyncDatabase[Any]
) -> None:
    down = await _down_holding_the_lock(tmp_path, mongo_uri, db_name, aclient, db)
    notes = Notes()
    task: asyncio.Task[RunResult] = asyncio.create_task(
        ad.migrations.run_migrations(aclient, migrations=held_down.MIGRATIONS, lock_wait_s=60, progress=notes)
    )
    try:

        async def waiting_or_done() -> bool:
            return task.done() or any(WAITING in line for line in notes.lines)

        await wait_until(waiting_or_done, "run_migrations to wait for the lock (or return)")
        assert not task.done(), f"decided while a down held the lock: {task.result()}"
        await db.signals.insert_one({"_id": "go"})
        assert down.wait(60) == 0, down.stderr()
        result = await task
    finally:
        down.stop()
        if not task.done():
            task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert (result.from_version, result.to_version, len(result.steps)) == (0, 3, 3)
    assert not result.reached_by_other and result.waited_s > 0
    assert (await version_doc(db) or {})["version"] == 3
    assert await effects(db) == {"1:up": 2, "2:up": 2, "3:up": 2, "3:down": 1, "2:down": 1, "1:down": 1}


async def test_a_stop_while_waiting_for_the_lock_ends_the_run_with_nothing_done(
    aclient: AnalytiqClient, db: AsyncDatabase[Any]
) -> None:
    holder = MigrationLock(db)
    assert await holder.try_acquire()
    notes, stop = Notes(), StopRequest()
    task = asyncio.create_task(
        ad.migrations.up(aclient, migrations=held_down.MIGRATIONS, lock_wait_s=60, progress=notes, stop=stop)
    )
    try:

        async def waiting_or_done() -> bool:
            return task.done() or any(WAITING in line for line in notes.lines)

        await wait_until(waiting_or_done, "up to wait for the lock")
        assert not task.done()
        stop.request()
        with pytest.raises(RunInterrupted) as info:
            await task
    finally:
        await holder.release()
        await asyncio.gather(task, return_exceptions=True)
    assert info.value.message == "interrupted while waiting for the migration lock; nothing was done"
    assert await version_doc(db) is None and await effects(db) == {}
