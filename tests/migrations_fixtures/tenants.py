"""Three migrations for many tenant databases; the second fails on a tenant whose data it was not
written for (a user whose ``email`` is not text). Every run of up/down counts itself in ``effects``."""

from __future__ import annotations

from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from analytiq_data.migrations.base import Migration
from tests.migrations_fixtures.basic import AddActiveMigration, count


class AddPlanMigration(Migration):
    """Give every user a plan."""

    async def up(self, db: AsyncDatabase[Any]) -> bool:
        await db.users.update_many({"plan": {"$exists": False}}, {"$set": {"plan": "free"}})
        await count(db, 1, "up")
        return True

    async def down(self, db: AsyncDatabase[Any]) -> bool:
        await db.users.update_many({}, {"$unset": {"plan": ""}})
        await count(db, 1, "down")
        return True


class LowercaseEmailMigration(Migration):
    """Store e-mail addresses in lower case."""

    async def up(self, db: AsyncDatabase[Any]) -> bool:
        async for user in db.users.find({"email": {"$exists": True}}):
            email = user["email"]
            if not isinstance(email, str):
                raise ValueError(f"user {user['_id']} has an email that is not text: {email!r}")
            await db.users.update_one({"_id": user["_id"]}, {"$set": {"email": email.lower()}})
        await count(db, 2, "up")
        return True

    async def down(self, db: AsyncDatabase[Any]) -> bool:
        await count(db, 2, "down")
        return True


MIGRATIONS: list[Migration] = [AddPlanMigration(), LowercaseEmailMigration(), AddActiveMigration()]


class QuietPlanMigration(Migration):
    """Give every user a plan (not counted: a rehearsal checks that running it again changes nothing)."""

    async def up(self, db: AsyncDatabase[Any]) -> bool:
        await db.users.update_many({"plan": {"$exists": False}}, {"$set": {"plan": "free"}})
        return True

    async def down(self, db: AsyncDatabase[Any]) -> bool:
        await db.users.update_many({}, {"$unset": {"plan": ""}})
        return True


class QuietLowercaseEmailMigration(LowercaseEmailMigration):
    """Store e-mail addresses in lower case (not counted; the original case cannot be brought back)."""

    reversible = False

    async def up(self, db: AsyncDatabase[Any]) -> bool:
        async for user in db.users.find({"email": {"$exists": True}}):
            if not isinstance(user["email"], str):
                raise ValueError(f"user {user['_id']} has an email that is not text: {user['email']!r}")
            await db.users.update_one({"_id": user["_id"]}, {"$set": {"email": user["email"].lower()}})
        return True


#: For rehearsals: the same changes, not counted.
REHEARSED: list[Migration] = [QuietPlanMigration(), QuietLowercaseEmailMigration()]
