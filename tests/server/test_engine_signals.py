"""SIGTERM during a long step: the runner stops at the next safe point (or, on a second signal,
aborts the step and its transaction), releases the lock, and says how to continue."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from tests.migrations_fixtures.helpers import CliProcess, effects, history_docs, start_cli, version_doc, wait_until

BLOCKING = "tests.migrations_fixtures.blocking:MIGRATIONS"


def _up(tmp_path: Path, uri: str, db_name: str) -> CliProcess:
    return start_cli(tmp_path, "runner", "up", "--uri", uri, "--db", db_name, "--migrations", BLOCKING)


async def _entered(db: AsyncDatabase[Any]) -> bool:
    return await db.signals.find_one({"_id": "entered"}) is not None


def _said(runner: CliProcess, text: str) -> Any:
    async def check() -> bool:
        return text in runner.stderr()

    return check


async def test_sigterm_stops_after_the_running_step_and_releases_the_lock(
    tmp_path: Path, mongo_uri: str, db_name: str, db: AsyncDatabase[Any]
) -> None:
    runner = _up(tmp_path, mongo_uri, db_name)
    try:
        await wait_until(lambda: _entered(db), "the runner inside step 2")
        runner.proc.send_signal(signal.SIGTERM)
        await wait_until(_said(runner, "stopping after the current step"), "the runner to acknowledge SIGTERM")
        await db.signals.insert_one({"_id": "go"})  # let the running step finish
        code = runner.wait(60)
    finally:
        runner.stop()
    assert code == 130
    assert runner.stderr().splitlines()[-1] == (
        "analytiq-db: error: interrupted: stopped before version 3 (AddActiveMigration); the database is at "
        "version 2 — run analytiq-db up to continue to version 3"
    )
    assert (await version_doc(db) or {})["version"] == 2
    assert await effects(db) == {"1:up": 1, "2:up": 1}
    assert await db.migration_lock.count_documents({}) == 0


async def test_a_second_sigterm_aborts_the_step_and_rolls_it_back(
    tmp_path: Path, mongo_uri: str, db_name: str, db: AsyncDatabase[Any]
) -> None:
    runner = _up(tmp_path, mongo_uri, db_name)
    try:
        await wait_until(lambda: _entered(db), "the runner inside step 2")
        runner.proc.send_signal(signal.SIGTERM)
        await wait_until(_said(runner, "stopping after the current step"), "the first SIGTERM noted")
        runner.proc.send_signal(signal.SIGTERM)
        code = runner.wait(60)
    finally:
        runner.stop()
    assert code == 130
    assert runner.stderr().splitlines()[-1] == (
        "analytiq-db: error: interrupted during version 2 (WaitForGoMigration): its transaction was rolled back; "
        "the database is at version 1 — run analytiq-db up again to continue"
    )
    assert (await version_doc(db) or {})["version"] == 1
    assert await effects(db) == {"1:up": 1}  # step 2's write rolled back with its transaction
    assert [(d["version"], d["outcome"]) for d in await history_docs(db)] == [(1, "applied"), (2, "interrupted")]
    assert await db.migration_lock.count_documents({}) == 0
