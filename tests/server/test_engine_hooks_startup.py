"""The original module's API and run-level hooks (issue 10, point 4).

``get_current_version`` / ``schema_migrations_pending`` on PyMongo and motor databases, and
``RunHooks``: awaited under the lock, once per run, also when nothing is pending; a failing hook
stops the run with one line and changes no version.
"""

from __future__ import annotations

import os
from typing import Any

import pytest
from motor.motor_asyncio import AsyncIOMotorClient
from pymongo import MongoClient
from pymongo.asynchronous.database import AsyncDatabase

import analytiq_data as ad
from analytiq_data.client import AnalytiqClient
from analytiq_data.errors import ConfigurationError, ExitCode, MigrationError
from analytiq_data.migrations import HookFailedError, RunHooks, RunInfo
from tests.migrations_fixtures import basic, readme_examples
from tests.migrations_fixtures.helpers import effects, version_doc


@pytest.fixture
def motor_db(mongo_uri: str, db_name: str) -> Any:
    client: AsyncIOMotorClient[Any] = AsyncIOMotorClient(mongo_uri, serverSelectionTimeoutMS=5000)
    try:
        yield client[db_name]
    finally:
        client.close()


@pytest.mark.parametrize("kind", ["pymongo", "motor"])
async def test_the_original_start_up_functions_on_pymongo_and_motor_databases(
    kind: str, aclient: AnalytiqClient, db: AsyncDatabase[Any], motor_db: Any
) -> None:
    app_db = db if kind == "pymongo" else motor_db
    steps = basic.MIGRATIONS
    assert await ad.migrations.get_current_version(app_db) == 0
    assert await ad.migrations.schema_migrations_pending(app_db, migrations=steps) is True
    assert await ad.migrations.schema_migrations_pending(app_db, 0, migrations=steps) is False
    assert await ad.migrations.schema_migrations_pending(app_db) is True  # Analytiq's own list (4 steps)

    await ad.migrations.run_migrations(aclient, target_version=2, migrations=steps)
    assert await ad.migrations.get_current_version(app_db) == 2
    assert await ad.migrations.schema_migrations_pending(app_db, migrations=steps) is True
    assert await ad.migrations.schema_migrations_pending(app_db, target_version=2, migrations=steps) is False
    assert await ad.migrations.schema_migrations_pending(app_db, target_version=1, migrations=steps) is True

    await ad.migrations.run_migrations(aclient, migrations=steps)
    assert await ad.migrations.get_current_version(app_db) == 3
    assert await ad.migrations.schema_migrations_pending(app_db, migrations=steps) is False
    # A database newer than the code: nothing the code would do.
    assert await ad.migrations.schema_migrations_pending(app_db, migrations=steps[:2]) is False
    with pytest.raises(ConfigurationError, match="unknown target version 7: valid versions are 0–3"):
        await ad.migrations.schema_migrations_pending(app_db, 7, migrations=steps)


async def test_the_start_up_functions_refuse_what_is_not_an_async_database(
    mongo_uri: str, db_name: str, db: AsyncDatabase[Any]
) -> None:
    sync: MongoClient[dict[str, Any]]
    with MongoClient(mongo_uri, serverSelectionTimeoutMS=5000) as sync:
        with pytest.raises(ConfigurationError, match="expected an async database, got the synchronous pymongo"):
            await ad.migrations.get_current_version(sync[db_name])
    with pytest.raises(ConfigurationError, match=r"expected a database .* got str"):
        await ad.migrations.get_current_version(db_name)
    await db.migrations.insert_one({"_id": "schema_version", "version": "two"})
    with pytest.raises(MigrationError, match="the version document holds 'two', not a whole number"):
        await ad.migrations.get_current_version(db)


class Recorder:
    """Run hooks that record what they are told and what the database looks like when called."""

    def __init__(self, db: AsyncDatabase[Any], fail: str | None = None) -> None:
        self.db = db
        self.fail = fail
        self.calls: list[dict[str, Any]] = []

    async def before(self, run: RunInfo) -> None:
        await self._record("before", run)
        if self.fail == "before":
            raise ValueError("the queue is unreachable")

    async def after(self, run: RunInfo) -> bool:
        await self._record("after", run)
        return self.fail != "after"

    async def _record(self, when: str, run: RunInfo) -> None:
        lock = await self.db.migration_lock.find_one({"_id": "migration_lock"})
        await run.db.housekeeping.update_one({"_id": when}, {"$inc": {"n": 1}}, upsert=True)  # the step's database
        self.calls.append(
            {
                "when": when,
                "from": run.from_version,
                "target": run.target,
                "direction": run.direction,
                "pending": run.pending,
                "steps": [s.version for s in run.steps],
                "version": (await version_doc(self.db) or {}).get("version", 0),
                "locked_by_me": lock is not None and lock.get("pid") == os.getpid(),
            }
        )

    def hooks(self) -> RunHooks:
        return RunHooks(before=self.before, after=self.after)


async def test_run_hooks_run_once_per_run_under_the_lock_also_when_nothing_is_pending(
    aclient: AnalytiqClient, db: AsyncDatabase[Any]
) -> None:
    rec = Recorder(db)
    await ad.migrations.run_migrations(aclient, migrations=basic.MIGRATIONS, hooks=rec.hooks())
    await ad.migrations.run_migrations(aclient, migrations=basic.MIGRATIONS, hooks=rec.hooks())
    await ad.migrations.down(aclient, to=1, migrations=basic.MIGRATIONS, hooks=rec.hooks())
    await ad.migrations.up(aclient, dry_run=True, migrations=basic.MIGRATIONS, hooks=rec.hooks())  # no run: no hook
    first_up = {"from": 0, "target": 3, "direction": "up", "pending": (1, 2, 3), "locked_by_me": True}
    nothing = {"from": 3, "target": 3, "direction": None, "pending": (), "locked_by_me": True}
    down = {"from": 3, "target": 1, "direction": "down", "pending": (3, 2), "locked_by_me": True}
    assert rec.calls == [
        {"when": "before", **first_up, "steps": [], "version": 0},
        {"when": "after", **first_up, "steps": [1, 2, 3], "version": 3},
        {"when": "before", **nothing, "steps": [], "version": 3},
        {"when": "after", **nothing, "steps": [], "version": 3},
        {"when": "before", **down, "steps": [], "version": 3},
        {"when": "after", **down, "steps": [3, 2], "version": 1},
    ]
    assert {d["_id"]: d["n"] async for d in db.housekeeping.find()} == {"before": 3, "after": 3}
    assert await db.migration_lock.count_documents({}) == 0


async def test_a_failing_before_hook_stops_the_run_before_any_step(
    aclient: AnalytiqClient, db: AsyncDatabase[Any]
) -> None:
    rec = Recorder(db, fail="before")
    with pytest.raises(HookFailedError) as info:
        await ad.migrations.run_migrations(aclient, migrations=basic.MIGRATIONS, hooks=rec.hooks())
    assert info.value.message == (
        "the before hook Recorder.before failed: ValueError: the queue is unreachable; "
        "no step ran, the database is at version 0"
    )
    assert info.value.exit_code == ExitCode.MIGRATION and info.value.version == 0
    assert await version_doc(db) is None and await effects(db) == {}
    assert [c["when"] for c in rec.calls] == ["before"]
    assert await db.migration_lock.count_documents({}) == 0


async def test_a_failing_after_hook_is_one_line_and_changes_no_version(
    aclient: AnalytiqClient, db: AsyncDatabase[Any]
) -> None:
    rec = Recorder(db, fail="after")
    with pytest.raises(HookFailedError) as info:
        await ad.migrations.run_migrations(aclient, migrations=basic.MIGRATIONS, hooks=rec.hooks())
    assert info.value.message == (
        "the after hook Recorder.after failed: returned False; the steps are applied, the database is at version 3"
    )
    assert (await version_doc(db) or {})["version"] == 3  # the steps stand; the hook moved nothing
    assert await effects(db) == {"1:up": 1, "2:up": 1, "3:up": 1}
    assert await db.migration_lock.count_documents({}) == 0


async def test_the_readme_hooks_release_claims_and_reconcile_indexes(
    aclient: AnalytiqClient, db: AsyncDatabase[Any]
) -> None:
    await db.queue.insert_many([{"_id": 1, "state": "claimed", "worker": "dead-pod"}, {"_id": 2, "state": "done"}])
    hooks = RunHooks(before=readme_examples.release_claims, after=readme_examples.reconcile_indexes)
    result = await ad.migrations.run_migrations(aclient, migrations=basic.MIGRATIONS, hooks=hooks)
    assert result.to_version == 3
    assert [d async for d in db.queue.find().sort("_id")] == [
        {"_id": 1, "state": "queued"},
        {"_id": 2, "state": "done"},
    ]
    assert "organization_id_1_upload_date_-1" in await db.documents.index_information()
