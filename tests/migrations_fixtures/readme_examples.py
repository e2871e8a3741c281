"""The migration classes shown in the docs' migration guide (docs/how-to/write-a-migration.md, and the run
hooks of docs/how-to/run-migrations.md), verbatim; tests/server/test_engine_readme.py checks the pages'
code matches these and runs them on a real server."""

from __future__ import annotations

import logging
from typing import Any

from motor.motor_asyncio import AsyncIOMotorClient
from pymongo.asynchronous.database import AsyncDatabase

from analytiq_data.migrations import Migration, RunInfo

logger = logging.getLogger(__name__)


class RenameFieldMigration(Migration):
    def __init__(self) -> None:
        super().__init__(description="Rename user.name to user.full_name")

    async def up(self, db: AsyncDatabase[Any]) -> bool:
        # Only documents still in the old shape: running it twice changes nothing.
        await db.users.update_many({"name": {"$exists": True}}, {"$rename": {"name": "full_name"}})
        return True

    async def down(self, db: AsyncDatabase[Any]) -> bool:
        await db.users.update_many({"full_name": {"$exists": True}}, {"$rename": {"full_name": "name"}})
        return True


class AddNewFieldMigration(Migration):
    def __init__(self) -> None:
        super().__init__(description="Add new_field to user collection")

    async def up(self, db: AsyncDatabase[Any]) -> bool:
        await db.users.update_many({"new_field": {"$exists": False}}, {"$set": {"new_field": "new_value"}})
        return True

    async def down(self, db: AsyncDatabase[Any]) -> bool:
        await db.users.update_many({}, {"$unset": {"new_field": ""}})
        return True


class AddDisplayNameMigration(Migration):
    def __init__(self) -> None:
        super().__init__(description="Add display_name computed from full_name")

    async def up(self, db: AsyncDatabase[Any]) -> bool:
        # $addFields is an aggregation stage: it is valid only inside a pipeline-style update.
        await db.users.update_many(
            {"display_name": {"$exists": False}},
            [{"$addFields": {"display_name": {"$toUpper": "$full_name"}}}],
        )
        return True

    async def down(self, db: AsyncDatabase[Any]) -> bool:
        await db.users.update_many({}, {"$unset": {"display_name": ""}})
        return True


class CreateEmailIndexMigration(Migration):
    use_transaction = False  # index builds do not belong in a transaction

    def __init__(self) -> None:
        super().__init__(description="Unique index on users.email")

    async def up(self, db: AsyncDatabase[Any]) -> bool:
        await db.users.create_index("email", unique=True, sparse=True, name="email_unique")
        return True

    async def down(self, db: AsyncDatabase[Any]) -> bool:
        if "email_unique" in await db.users.index_information():
            await db.users.drop_index("email_unique")
        return True


class GuideStyleMigration(Migration):
    def __init__(self) -> None:
        super().__init__(description="The original guide's style: catch everything, return False")

    async def up(self, db: AsyncDatabase[Any]) -> bool:
        try:
            await db.users.update_many({}, {"$addFields": {"x": 1}})  # rejected by the server
            return True
        except Exception as e:
            logger.error(f"Migration failed: {e}")
            return False


class AppClient:  # the application's own client object
    def __init__(self, uri: str, env: str) -> None:
        self.mongodb_async: AsyncIOMotorClient[Any] = AsyncIOMotorClient(uri)
        self.env = env


MIGRATIONS: list[Migration] = [
    RenameFieldMigration(),
    AddNewFieldMigration(),
    AddDisplayNameMigration(),
    CreateEmailIndexMigration(),
]


# The run hooks example of docs/how-to/run-migrations.md.
async def release_claims(run: RunInfo) -> None:
    await run.db.queue.update_many({"state": "claimed"}, {"$set": {"state": "queued"}, "$unset": {"worker": ""}})


async def reconcile_indexes(run: RunInfo) -> None:
    await run.db.documents.create_index([("organization_id", 1), ("upload_date", -1)])
