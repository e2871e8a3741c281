"""A list reordered, or a class inserted, after steps were applied: status names the mismatch,
up and down refuse; code edited in place after it was applied is flagged by status."""

from __future__ import annotations

from typing import Any

import pytest
from pymongo.asynchronous.database import AsyncDatabase

import analytiq_data as ad
from analytiq_data.client import AnalytiqClient
from analytiq_data.errors import MigrationError
from tests.migrations_fixtures import basic, changed
from tests.migrations_fixtures.helpers import effects

REORDER_LINE = (
    "the migration list does not match the database: version 2 was applied as RenameNameMigration but the "
    "list has AddActiveMigration there (and 1 more) — restore the list's order (append new migrations at the "
    "end, never insert or reorder)"
)


async def test_reordered_list_is_named_by_status_and_refused_by_up_and_down(
    aclient: AnalytiqClient, db: AsyncDatabase[Any]
) -> None:
    await ad.migrations.run_migrations(aclient, migrations=basic.MIGRATIONS)
    status = await ad.migrations.status(aclient, migrations=basic.REORDERED)
    assert [(m.version, m.recorded, m.current) for m in status.mismatches] == [
        (2, "RenameNameMigration", "AddActiveMigration"),
        (3, "AddActiveMigration", "RenameNameMigration"),
    ]
    assert REORDER_LINE in status.problems
    assert status.changed == ()  # a different class is a mismatch, not a code change

    for attempt in (
        ad.migrations.up(aclient, migrations=basic.REORDERED),
        ad.migrations.down(aclient, to=0, migrations=basic.REORDERED),
        ad.migrations.run_migrations(aclient, migrations=basic.REORDERED),
    ):
        with pytest.raises(MigrationError) as info:
            await attempt
        assert info.value.user_line() == REORDER_LINE
    assert await effects(db) == {"1:up": 1, "2:up": 1, "3:up": 1}  # nothing ran


async def test_inserted_migration_is_refused(aclient: AnalytiqClient) -> None:
    await ad.migrations.run_migrations(aclient, target_version=2, migrations=basic.MIGRATIONS)
    with pytest.raises(MigrationError) as info:
        await ad.migrations.run_migrations(aclient, migrations=changed.INSERTED)
    assert info.value.message == (
        "the migration list does not match the database: version 2 was applied as RenameNameMigration but the "
        "list has AuditMigration there"
    )


async def test_code_edited_after_it_was_applied_is_flagged(aclient: AnalytiqClient) -> None:
    await ad.migrations.run_migrations(aclient, migrations=basic.MIGRATIONS)
    status = await ad.migrations.status(aclient, migrations=changed.MIGRATIONS)
    assert status.changed == (2,) and not status.mismatches
    assert "version 2 (RenameNameMigration) changed since it was applied" in status.problems
    # Running is still allowed (nothing pending), and stamping accepts the new code as applied.
    await ad.migrations.stamp(aclient, 3, migrations=changed.MIGRATIONS)
    assert (await ad.migrations.status(aclient, migrations=changed.MIGRATIONS)).changed == ()
