"""The engine on a real server: up, down, status and history through a whole cycle; a database
the original code migrated; a database newer than the code; stamp; dry runs."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from pymongo.asynchronous.database import AsyncDatabase

import analytiq_data as ad
from analytiq_data.client import AnalytiqClient
from analytiq_data.errors import ConfigurationError, MigrationError
from tests.migrations_fixtures import basic, failing
from tests.migrations_fixtures.helpers import effects, history_docs, version_doc

LIST = basic.MIGRATIONS


async def test_up_down_and_up_again_with_status_and_history(aclient: AnalytiqClient, db: AsyncDatabase[Any]) -> None:
    status = await ad.migrations.status(aclient, migrations=LIST)
    assert (status.current, status.head, [s.version for s in status.pending]) == (0, 3, [1, 2, 3])

    result = await ad.migrations.run_migrations(aclient, migrations=LIST)
    assert (result.from_version, result.to_version, result.direction) == (0, 3, "up")
    assert [s.name for s in result.steps] == ["SeedUsersMigration", "RenameNameMigration", "AddActiveMigration"]
    assert all(s.transactional == status.transactions for s in result.steps)
    doc = await version_doc(db)
    assert doc is not None and set(doc) == {"_id", "version", "updated_at"} and doc["version"] == 3
    assert await db.users.find_one({"_id": 1}) == {"_id": 1, "full_name": "Ada", "active": True}
    status = await ad.migrations.status(aclient, migrations=LIST)
    assert status.current == 3 and not status.pending and not status.problems
    assert all(s.applied_at is not None for s in status.steps)

    result = await ad.migrations.run_migrations(aclient, target_version=1, migrations=LIST)
    assert (result.from_version, result.to_version, result.direction) == (3, 1, "down")
    assert [s.version for s in result.steps] == [3, 2]
    assert await db.users.find_one({"_id": 1}) == {"_id": 1, "name": "Ada"}
    status = await ad.migrations.status(aclient, migrations=LIST)
    assert status.current == 1 and [s.version for s in status.pending] == [2, 3]

    result = await ad.migrations.run_migrations(aclient, target_version=0, migrations=LIST)
    assert [s.version for s in result.steps] == [1]
    assert await db.users.count_documents({}) == 0
    assert (await version_doc(db) or {})["version"] == 0

    result = await ad.migrations.run_migrations(aclient, migrations=LIST)
    assert result.to_version == 3 and len(result.steps) == 3
    assert await effects(db) == {"1:up": 2, "2:up": 2, "3:up": 2, "3:down": 1, "2:down": 1, "1:down": 1}

    history = await ad.migrations.history(aclient)
    assert [(r.version, r.direction) for r in history.records][:4] == [(3, "up"), (2, "up"), (1, "up"), (1, "down")]
    assert len(history.records) == 9 and all(r.outcome == "applied" for r in history.records)
    record = history.records[0]
    assert record.name == "AddActiveMigration" and record.description == "Add users.active = true."
    assert record.checksum and record.host and record.pid and record.duration_s is not None
    assert record.started_at is not None and record.ended_at is not None and record.ended_at >= record.started_at

    again = await ad.migrations.run_migrations(aclient, migrations=LIST)
    assert again.nothing_to_do and again.to_version == 3


async def test_database_migrated_by_the_original_code_is_picked_up(
    aclient: AnalytiqClient, db: AsyncDatabase[Any]
) -> None:
    # The original code left version 2 and the data as its steps 1 and 2 made it.
    await db.migrations.insert_one(
        {"_id": "schema_version", "version": 2, "updated_at": datetime(2024, 5, 1, tzinfo=UTC)}
    )
    await db.users.insert_many([{"_id": 1, "full_name": "Ada"}, {"_id": 2, "full_name": "Grace"}])
    status = await ad.migrations.status(aclient, migrations=LIST)
    assert status.current == 2 and [s.version for s in status.pending] == [3] and not status.problems

    result = await ad.migrations.run_migrations(aclient, migrations=LIST)
    assert (result.from_version, result.to_version, [s.version for s in result.steps]) == (2, 3, [3])
    assert await effects(db) == {"3:up": 1}
    doc = await version_doc(db)
    assert doc is not None and doc["version"] == 3 and doc["updated_at"] > datetime(2024, 5, 1, tzinfo=UTC)
    assert await db.users.count_documents({"active": True}) == 2


async def test_database_newer_than_the_code_is_left_alone(aclient: AnalytiqClient, db: AsyncDatabase[Any]) -> None:
    await db.migrations.insert_one({"_id": "schema_version", "version": 5, "updated_at": datetime.now(UTC)})
    result = await ad.migrations.run_migrations(aclient, migrations=LIST)
    assert result.database_ahead and result.nothing_to_do and result.to_version == 5
    assert (await version_doc(db) or {})["version"] == 5 and await effects(db) == {}
    status = await ad.migrations.status(aclient, migrations=LIST)
    assert status.database_ahead
    assert "the database is at version 5, newer than this code's newest migration (3)" in status.problems
    with pytest.raises(MigrationError, match="newer than this code's newest migration"):
        await ad.migrations.run_migrations(aclient, target_version=1, migrations=LIST)
    with pytest.raises(MigrationError) as info:
        await ad.migrations.down(aclient, migrations=LIST)
    assert info.value.message == "the database is at version 5, newer than this code's newest migration (3)"
    assert (await ad.migrations.up(aclient, migrations=LIST)).database_ahead
    assert (await version_doc(db) or {})["version"] == 5


async def test_unknown_target_names_the_valid_range(aclient: AnalytiqClient) -> None:
    with pytest.raises(ConfigurationError) as info:
        await ad.migrations.run_migrations(aclient, target_version=7, migrations=LIST)
    assert info.value.user_line() == "unknown target version 7: valid versions are 0–3 — 0 means no migration applied"


async def test_stated_version_must_equal_position(aclient: AnalytiqClient) -> None:
    class StatesThree(basic.RenameNameMigration):
        def __init__(self) -> None:
            super().__init__(description="x", version=3)

    with pytest.raises(ConfigurationError) as info:
        await ad.migrations.run_migrations(aclient, migrations=[basic.SeedUsersMigration(), StatesThree()])
    assert "StatesThree is at position 2 in the migration list but states version=3" in info.value.user_line()


async def test_going_down_past_an_irreversible_step_refuses(aclient: AnalytiqClient, db: AsyncDatabase[Any]) -> None:
    await ad.migrations.run_migrations(aclient, migrations=failing.IRREVERSIBLE)
    with pytest.raises(MigrationError) as info:
        await ad.migrations.run_migrations(aclient, target_version=0, migrations=failing.IRREVERSIBLE)
    assert (
        info.value.message == "cannot go down past version 2 (IrreversibleMigration): it is declared reversible = False"
    )
    assert (await version_doc(db) or {})["version"] == 2


async def test_dry_run_plans_without_changing_anything(aclient: AnalytiqClient, db: AsyncDatabase[Any]) -> None:
    result = await ad.migrations.up(aclient, migrations=LIST, dry_run=True)
    assert result.dry_run and [(s.version, s.direction, s.outcome) for s in result.steps] == [
        (1, "up", "planned"),
        (2, "up", "planned"),
        (3, "up", "planned"),
    ]
    assert await version_doc(db) is None and await effects(db) == {} and await history_docs(db) == []


async def test_stamp_records_a_version_without_running_steps(aclient: AnalytiqClient, db: AsyncDatabase[Any]) -> None:
    result = await ad.migrations.stamp(aclient, 2, migrations=LIST)
    assert (result.from_version, result.to_version) == (0, 2)
    assert (await version_doc(db) or {})["version"] == 2 and await effects(db) == {}
    assert [(d["version"], d["outcome"]) for d in await history_docs(db)] == [(1, "stamped"), (2, "stamped")]
    await ad.migrations.run_migrations(aclient, migrations=LIST)
    assert await effects(db) == {"3:up": 1}
