"""A failing step, on both topologies: it raises, returns False or returns None.

On a replica set (the shared test server) the step runs in a transaction: none of its writes
survive and the version stays put. On a standalone server (``--standalone``; note: SecantusDB
would accept transactions there, but hello says standalone, so the engine does not use them, as
on mongod) the step's writes stay, and the next run retries it — or, for a step declared
``idempotent = False``, the database is dirty until a person resolves it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from pymongo.asynchronous.database import AsyncDatabase

import analytiq_data as ad
from analytiq_data.client import AnalytiqClient
from analytiq_data.errors import ConfigurationError, MigrationError
from analytiq_data.migrations import Migration, StepFailedError
from tests.migrations_fixtures import failing
from tests.migrations_fixtures.helpers import effects, history_docs, version_doc
from tools.testserver import TestServer

CASES = [
    (
        failing.RAISES,
        "version 2 (RaisesMigration) failed (up): ValueError: boom: the data is not what this step expects",
    ),
    (failing.RETURNS_FALSE, "version 2 (ReturnsFalseMigration) failed (up): returned False"),
    (failing.RETURNS_NONE, "version 2 (ReturnsNoneMigration) failed (up): returned None (up/down must return True)"),
]


@pytest.mark.parametrize(("migrations", "message"), CASES, ids=["raises", "returns-false", "returns-none"])
async def test_failed_step_rolls_back_in_its_transaction(
    aclient: AnalytiqClient, db: AsyncDatabase[Any], migrations: list[Migration], message: str
) -> None:
    assert (await ad.migrations.status(aclient, migrations=migrations)).transactions, "shared server is a replica set"
    await db.flags.insert_one({"_id": "fail"})
    with pytest.raises(StepFailedError) as info:
        await ad.migrations.run_migrations(aclient, migrations=migrations)
    assert info.value.message == message
    assert (
        info.value.hint is not None and "the database is at version 1; its writes were rolled back" in info.value.hint
    )
    assert [s.version for s in info.value.applied] == [1]
    assert (await version_doc(db) or {})["version"] == 1  # the earlier step stays applied
    assert await db.partial.count_documents({}) == 0  # the failed step's writes rolled back
    assert await effects(db) == {"1:up": 1}
    failed = (await history_docs(db))[-1]
    assert (failed["version"], failed["outcome"], failed["transactional"]) == (2, "failed", True)
    assert "Traceback" in failed["traceback"] and failed["error"] in message

    await db.flags.delete_many({})
    result = await ad.migrations.run_migrations(aclient, migrations=migrations)
    assert [s.version for s in result.steps] == [2]
    assert await db.partial.count_documents({}) == 1 and (await version_doc(db) or {})["version"] == 2


async def test_raised_error_keeps_its_traceback_in_history(aclient: AnalytiqClient, db: AsyncDatabase[Any]) -> None:
    await db.flags.insert_one({"_id": "fail"})
    with pytest.raises(StepFailedError):
        await ad.migrations.run_migrations(aclient, migrations=failing.RAISES)
    history = await ad.migrations.history(aclient, limit=1)
    record = history.records[0]
    assert record.outcome == "failed" and record.traceback is not None
    assert 'raise ValueError("boom: the data is not what this step expects")' in record.traceback


async def _fail_then_retry_standalone(uri: str, db_name: str, migrations: list[Migration], message: str) -> None:
    target = AnalytiqClient(uri=uri, env=db_name)
    db = target.db
    try:
        await db.flags.insert_one({"_id": "fail"})
        with pytest.raises(StepFailedError) as info:
            await ad.migrations.run_migrations(target, migrations=migrations)
        assert info.value.message == message
        assert info.value.hint is not None and "it ran outside a transaction and will run again" in info.value.hint
        assert (await version_doc(db) or {})["version"] == 1
        assert await db.partial.count_documents({}) == 1  # no transaction: the write stayed
        assert (await history_docs(db))[-1]["transactional"] is False
        await db.flags.delete_many({})
        result = await ad.migrations.run_migrations(target, migrations=migrations)
        assert [s.version for s in result.steps] == [2]  # retried on the next run
        assert await db.partial.count_documents({}) == 2 and await effects(db) == {"1:up": 1, "2:up": 2}
    finally:
        await target.mongodb_async.drop_database(db_name)
        await target.close()


@pytest.mark.controls_server
async def test_failed_step_on_a_standalone_server_is_retried_or_dirty(
    server_factory: Callable[..., TestServer], db_name: str
) -> None:
    server = server_factory(standalone=True)
    probe = AnalytiqClient(uri=server.uri, env=db_name)
    assert not (await ad.migrations.status(probe, migrations=failing.RAISES)).transactions
    await probe.close()
    for index, (migrations, message) in enumerate(CASES):
        await _fail_then_retry_standalone(server.uri, f"{db_name}_{index}", migrations, message)
    await _dirty_until_resolved(server.uri, f"{db_name}_dirty")


async def _dirty_until_resolved(uri: str, db_name: str) -> None:
    target = AnalytiqClient(uri=uri, env=db_name)
    db = target.db
    migrations = failing.NOT_IDEMPOTENT
    try:
        await db.flags.insert_one({"_id": "fail"})
        with pytest.raises(StepFailedError) as info:
            await ad.migrations.run_migrations(target, migrations=migrations)
        assert info.value.hint is not None and "the database is now dirty" in info.value.hint
        await db.flags.delete_many({})
        with pytest.raises(MigrationError) as refused:
            await ad.migrations.run_migrations(target, migrations=migrations)
        line = refused.value.user_line()
        assert line.startswith(
            "the database is dirty: version 2 (NotIdempotentMigration, idempotent = False) failed going up "
            "outside a transaction at "
        )
        assert line.endswith("analytiq-db resolve --version 2 --mark applied (or --mark reverted)")
        status = await ad.migrations.status(target, migrations=migrations)
        assert status.dirty is not None and any("dirty" in p for p in status.problems)
        assert await effects(db) == {"1:up": 1, "2:up": 1}  # refused: the step did not run again

        # A person undid the partial write and says so.
        await db.partial.delete_many({})
        resolved = await ad.migrations.resolve(target, "reverted", 2, migrations=migrations)
        assert (resolved.from_version, resolved.to_version) == (1, 1)
        result = await ad.migrations.run_migrations(target, migrations=migrations)
        assert [s.version for s in result.steps] == [2] and await db.partial.count_documents({}) == 1
        assert (await ad.migrations.status(target, migrations=migrations)).dirty is None
    finally:
        await target.mongodb_async.drop_database(db_name)
        await target.close()


async def test_non_idempotent_step_outside_a_transaction_marks_dirty_then_resolve_applied(
    aclient: AnalytiqClient, db: AsyncDatabase[Any]
) -> None:
    # use_transaction = False: even on a replica set the step runs outside a transaction.
    await db.flags.insert_one({"_id": "fail"})
    with pytest.raises(StepFailedError):
        await ad.migrations.run_migrations(aclient, migrations=failing.NOT_IDEMPOTENT)
    with pytest.raises(MigrationError, match="the database is dirty"):
        await ad.migrations.up(aclient, migrations=failing.NOT_IDEMPOTENT)
    with pytest.raises(
        ConfigurationError, match=r"the dirty step is version 2 \(NotIdempotentMigration\), not version 1"
    ):
        await ad.migrations.resolve(aclient, "applied", 1, migrations=failing.NOT_IDEMPOTENT)
    resolved = await ad.migrations.resolve(aclient, "applied", migrations=failing.NOT_IDEMPOTENT)
    assert (resolved.version, resolved.from_version, resolved.to_version) == (2, 1, 2)
    result = await ad.migrations.run_migrations(aclient, migrations=failing.NOT_IDEMPOTENT)
    assert result.nothing_to_do and (await version_doc(db) or {})["version"] == 2
    assert await effects(db) == {"1:up": 1, "2:up": 1}
    status = await ad.migrations.status(aclient, migrations=failing.NOT_IDEMPOTENT)
    assert not status.problems and status.steps[1].recorded_name == "NotIdempotentMigration"


async def test_the_guides_catch_all_style_still_works_but_loses_the_cause(
    aclient: AnalytiqClient, db: AsyncDatabase[Any]
) -> None:
    with pytest.raises(StepFailedError) as info:
        await ad.migrations.run_migrations(aclient, migrations=[failing.KeepsNothingMigration()])
    assert info.value.message == "version 1 (KeepsNothingMigration) failed (up): returned False"
    record = (await history_docs(db))[-1]
    assert "hidden cause" not in record["traceback"]
