"""``check`` against a real database: it fails on changed code, a reordered list, a database newer
than the code and a dirty step; it passes on a clean database; it never writes."""

from __future__ import annotations

import signal
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pymongo.asynchronous.database import AsyncDatabase

import analytiq_data as ad
from analytiq_data import guard
from analytiq_data.client import AnalytiqClient
from analytiq_data.errors import CheckFailed, ExitCode
from analytiq_data.migrations import StepFailedError
from tests.migrations_fixtures import basic, blocking, changed, failing
from tests.migrations_fixtures.helpers import start_cli, wait_until

REORDER_ACTION = "restore the list's order (append new migrations at the end, never insert or reorder)"


def kinds(result: guard.CheckResult) -> list[tuple[str, int, str, bool]]:
    return [(f.kind, f.version, f.name, f.failing) for f in result.findings]


async def snapshot(db: AsyncDatabase[Any]) -> dict[str, list[Any]]:
    """Return every document of the migration collections (to show check writes nothing)."""
    names = ("migrations", "migration_history", "migration_lock")
    return {name: [doc async for doc in db[name].find().sort("_id", 1)] for name in names}


async def test_clean_database_passes(aclient: AnalytiqClient, db_name: str) -> None:
    await ad.migrations.run_migrations(aclient, migrations=basic.MIGRATIONS)
    result = await guard.check(aclient, migrations=basic.MIGRATIONS, fail_on_pending=True)
    assert result.ok and result.findings == () and (result.source, result.target) == ("database", db_name)
    assert (result.version, result.head) == (3, 3)
    assert result.summary() == f"ok: database {db_name} is at version 3; the code's newest is 3"
    result.raise_for_failure()
    assert ad.migrations.check is guard.check


async def test_pending_steps_pass_unless_fail_on_pending(aclient: AnalytiqClient, db_name: str) -> None:
    await ad.migrations.run_migrations(aclient, target_version=1, migrations=basic.MIGRATIONS)
    result = await guard.check(aclient, migrations=basic.MIGRATIONS)
    assert result.ok and kinds(result) == [
        ("pending", 2, "RenameNameMigration", False),
        ("pending", 3, "AddActiveMigration", False),
    ]
    assert result.summary() == f"ok: database {db_name} is at version 1; the code's newest is 3 (2 pending)"
    assert result.findings[0].line == (
        "version 2 (RenameNameMigration): not applied yet — run analytiq-db up (or run_migrations at start-up)"
    )
    strict = await guard.check(aclient, migrations=basic.MIGRATIONS, fail_on_pending=True)
    assert not strict.ok and [f.version for f in strict.failures] == [2, 3]
    with pytest.raises(CheckFailed) as info:
        strict.raise_for_failure()
    assert info.value.message == (
        f"check failed for database {db_name}: version 2 (RenameNameMigration): not applied yet (and 1 more)"
    )


async def test_code_changed_after_it_was_applied_fails(
    aclient: AnalytiqClient, db: AsyncDatabase[Any], db_name: str
) -> None:
    await ad.migrations.run_migrations(aclient, migrations=basic.MIGRATIONS)
    before = await snapshot(db)
    result = await guard.check(aclient, migrations=changed.MIGRATIONS)
    assert not result.ok and kinds(result) == [("code_changed", 2, "RenameNameMigration", True)]
    assert result.findings[0].line == (
        "version 2 (RenameNameMigration): code changed since it was applied — revert the edit and put the change "
        "in a new migration; if the data already matches the new code, record that with analytiq-db stamp 3"
    )
    with pytest.raises(CheckFailed) as info:
        result.raise_for_failure()
    assert info.value.exit_code == ExitCode.FAILURE
    assert info.value.user_line() == (
        f"check failed for database {db_name}: version 2 (RenameNameMigration): code changed since it was "
        f"applied — {result.findings[0].action}"
    )
    assert await snapshot(db) == before  # check only reads

    await ad.migrations.stamp(aclient, 3, migrations=changed.MIGRATIONS)  # what the finding says to do
    assert (await guard.check(aclient, migrations=changed.MIGRATIONS)).ok


async def test_reordered_list_fails_at_each_moved_version(aclient: AnalytiqClient) -> None:
    await ad.migrations.run_migrations(aclient, migrations=basic.MIGRATIONS)
    result = await guard.check(aclient, migrations=basic.REORDERED)
    assert kinds(result) == [
        ("class_mismatch", 2, "AddActiveMigration", True),
        ("class_mismatch", 3, "RenameNameMigration", True),
    ]
    assert result.findings[0].line == (
        "version 2 (AddActiveMigration): the database applied RenameNameMigration at this version, the code has "
        f"AddActiveMigration — {REORDER_ACTION}"
    )


async def test_class_inserted_before_applied_steps_fails(aclient: AnalytiqClient) -> None:
    await ad.migrations.run_migrations(aclient, target_version=2, migrations=basic.MIGRATIONS)
    result = await guard.check(aclient, migrations=changed.INSERTED)
    assert kinds(result) == [
        ("class_mismatch", 2, "AuditMigration", True),
        ("pending", 3, "RenameNameMigration", False),
        ("pending", 4, "AddActiveMigration", False),
    ]


async def test_database_newer_than_the_code_fails(aclient: AnalytiqClient, db_name: str) -> None:
    await ad.migrations.run_migrations(aclient, migrations=basic.MIGRATIONS)
    result = await guard.check(aclient, migrations=basic.MIGRATIONS[:1])
    assert kinds(result) == [
        ("database_ahead", 2, "RenameNameMigration", True),
        ("database_ahead", 3, "AddActiveMigration", True),
    ]
    assert result.findings[1].line == (
        "version 3 (AddActiveMigration): applied to the database but not in this code — deploy the code that "
        "wrote it; this code will not run or undo migrations it does not have"
    )
    assert result.summary() == f"2 problems: database {db_name} is at version 3; the code's newest is 1"


async def test_database_migrated_by_the_original_runner(aclient: AnalytiqClient, db: AsyncDatabase[Any]) -> None:
    # The original code kept only the version document: nothing names the classes it applied.
    await db.migrations.insert_one({"_id": "schema_version", "version": 4, "updated_at": datetime.now(UTC)})
    result = await guard.check(aclient, migrations=basic.MIGRATIONS)
    assert kinds(result) == [
        ("unverified", 1, "SeedUsersMigration", False),
        ("unverified", 2, "RenameNameMigration", False),
        ("unverified", 3, "AddActiveMigration", False),
        ("database_ahead", 4, "", True),
    ]
    assert result.findings[3].line.startswith(
        "version 4: applied to the database (no history record names it) but not in this code — deploy"
    )
    await db.migrations.update_one({"_id": "schema_version"}, {"$set": {"version": 3}})
    passed = await guard.check(aclient, migrations=basic.MIGRATIONS)
    assert passed.ok and [f.level for f in passed.findings] == ["note"] * 3
    assert passed.findings[0].action == (
        "once its data is checked, record the list as applied with analytiq-db stamp 3"
    )


async def test_dirty_step_fails_until_resolved(aclient: AnalytiqClient, db: AsyncDatabase[Any], db_name: str) -> None:
    # use_transaction = False, idempotent = False: the failure leaves the database dirty, even on a replica set.
    await db.flags.insert_one({"_id": "fail"})
    with pytest.raises(StepFailedError):
        await ad.migrations.run_migrations(aclient, migrations=failing.NOT_IDEMPOTENT)
    result = await guard.check(aclient, migrations=failing.NOT_IDEMPOTENT)
    assert kinds(result) == [
        ("dirty", 2, "NotIdempotentMigration", True),
        ("pending", 2, "NotIdempotentMigration", False),
    ]
    dirty = result.findings[0]
    assert dirty.problem.startswith(
        "the database is dirty: this step (idempotent = False) failed going up outside a transaction at "
    )
    assert dirty.action == (
        "check its data, then record what is true with analytiq-db resolve --version 2 --mark applied "
        "(or --mark reverted)"
    )
    with pytest.raises(CheckFailed, match=r"check failed for database .*: version 2 \(NotIdempotentMigration\)"):
        result.raise_for_failure()

    await ad.migrations.resolve(aclient, "applied", 2, migrations=failing.NOT_IDEMPOTENT)
    after = await guard.check(aclient, migrations=failing.NOT_IDEMPOTENT, fail_on_pending=True)
    assert after.ok and after.findings == () and after.version == 2


async def test_a_run_in_progress_is_a_note(aclient: AnalytiqClient, db: AsyncDatabase[Any]) -> None:
    await ad.migrations.run_migrations(aclient, migrations=basic.MIGRATIONS)
    now = datetime.now(UTC)  # the original code's lock shape; live until expires_at by the server's clock
    await db.migration_lock.insert_one(
        {"_id": "migration_lock", "holder": "web-1", "locked_at": now, "expires_at": now + timedelta(minutes=5)}
    )
    result = await guard.check(aclient, migrations=basic.MIGRATIONS)
    assert result.ok and kinds(result) == [("running", 3, "", False)]
    assert result.findings[0].line.startswith("version 3: a migration run holds the lock (web-1 since ")


async def test_step_interrupted_by_a_kill_is_dirty_once_its_lease_ends(
    tmp_path: Path, mongo_uri: str, db_name: str, aclient: AnalytiqClient, db: AsyncDatabase[Any]
) -> None:
    spec = "tests.migrations_fixtures.blocking:NOT_IDEMPOTENT"
    runner = start_cli(
        tmp_path, "runner", "up", "--uri", mongo_uri, "--db", db_name, "--migrations", spec, "--lease", "1"
    )
    try:
        await wait_until(lambda: _entered(db), "the runner inside step 2")
        runner.proc.send_signal(signal.SIGKILL)
        assert runner.wait(30) == -signal.SIGKILL
    finally:
        runner.stop()

    async def dirty() -> bool:
        found = await guard.check(aclient, migrations=blocking.NOT_IDEMPOTENT)
        return any(f.kind == "dirty" for f in found.findings)

    await wait_until(dirty, "the killed runner's lease to end")  # until then: "running", a note
    result = await guard.check(aclient, migrations=blocking.NOT_IDEMPOTENT)
    assert not result.ok and result.failures[0].kind == "dirty"
    assert result.failures[0].who == "version 2 (WaitForGoNotIdempotentMigration)"
    assert "was interrupted going up outside a transaction at " in result.failures[0].problem


async def _entered(db: AsyncDatabase[Any]) -> bool:
    return await db.signals.find_one({"_id": "entered"}) is not None
