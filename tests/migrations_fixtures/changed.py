"""The basic list after someone edited version 2's code in place (same class name, new code)."""

from __future__ import annotations

from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from analytiq_data.migrations.base import Migration
from tests.migrations_fixtures.basic import AddActiveMigration, SeedUsersMigration, count


class RenameNameMigration(Migration):
    """Rename users.name to users.display_name (edited after it was applied)."""

    async def up(self, db: AsyncDatabase[Any]) -> bool:
        await db.users.update_many({"name": {"$exists": True}}, {"$rename": {"name": "display_name"}})
        await count(db, 2, "up")
        return True

    async def down(self, db: AsyncDatabase[Any]) -> bool:
        await db.users.update_many({}, {"$rename": {"display_name": "name"}})
        return True


class AuditMigration(Migration):
    """A migration someone inserted in the middle of the list."""

    async def up(self, db: AsyncDatabase[Any]) -> bool:
        return True

    async def down(self, db: AsyncDatabase[Any]) -> bool:
        return True


MIGRATIONS: list[Migration] = [SeedUsersMigration(), RenameNameMigration(), AddActiveMigration()]
INSERTED: list[Migration] = [SeedUsersMigration(), AuditMigration(), RenameNameMigration(), AddActiveMigration()]
