"""Three ordinary migrations. Every run of up/down counts itself in ``effects`` (``_id`` =
``"<version>:<direction>"``), so tests can check each step ran exactly once."""

from __future__ import annotations

from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from analytiq_data.migrations.base import Migration


async def count(db: AsyncDatabase[Any], version: int, direction: str) -> None:
    """Record one run of ``version``'s ``direction`` in ``effects``."""
    await db.effects.update_one({"_id": f"{version}:{direction}"}, {"$inc": {"n": 1}}, upsert=True)


class SeedUsersMigration(Migration):
    """Create two users."""

    async def up(self, db: AsyncDatabase[Any]) -> bool:
        await db.users.update_one({"_id": 1}, {"$setOnInsert": {"name": "Ada"}}, upsert=True)
        await db.users.update_one({"_id": 2}, {"$setOnInsert": {"name": "Grace"}}, upsert=True)
        await count(db, 1, "up")
        return True

    async def down(self, db: AsyncDatabase[Any]) -> bool:
        await db.users.delete_many({"_id": {"$in": [1, 2]}})
        await count(db, 1, "down")
        return True


class RenameNameMigration(Migration):
    """Rename users.name to users.full_name."""

    async def up(self, db: AsyncDatabase[Any]) -> bool:
        await db.users.update_many({"name": {"$exists": True}}, {"$rename": {"name": "full_name"}})
        await count(db, 2, "up")
        return True

    async def down(self, db: AsyncDatabase[Any]) -> bool:
        await db.users.update_many({"full_name": {"$exists": True}}, {"$rename": {"full_name": "name"}})
        await count(db, 2, "down")
        return True


class AddActiveMigration(Migration):
    """Add users.active = true."""

    async def up(self, db: AsyncDatabase[Any]) -> bool:
        await db.users.update_many({"active": {"$exists": False}}, {"$set": {"active": True}})
        await count(db, 3, "up")
        return True

    async def down(self, db: AsyncDatabase[Any]) -> bool:
        await db.users.update_many({}, {"$unset": {"active": ""}})
        await count(db, 3, "down")
        return True


MIGRATIONS: list[Migration] = [SeedUsersMigration(), RenameNameMigration(), AddActiveMigration()]
REORDERED: list[Migration] = [SeedUsersMigration(), AddActiveMigration(), RenameNameMigration()]
