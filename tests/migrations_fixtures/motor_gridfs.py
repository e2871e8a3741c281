"""Steps written as the Analytiq application writes them: motor's GridFS bucket on the database given.

``motor.motor_asyncio.AsyncIOMotorGridFSBucket(db)`` accepts only a motor database ("must be
MotorDatabase" for a PyMongo one), so this list runs only where steps are given motor's kind of
database: through ``run_migrations`` with the app's motor client, and from ``analytiq-db`` once it
sees (this module imports motor) or is told (``driver = "motor"``) what the list is written for.
``HOOKS.before`` builds the same bucket on the database the hooks are given.
"""

from typing import Any

import motor.motor_asyncio

from analytiq_data.migrations import Migration, RunHooks, RunInfo

BUCKET = "docs"
README = b"hello from motor"


def bucket(db: Any) -> Any:
    return motor.motor_asyncio.AsyncIOMotorGridFSBucket(db, bucket_name=BUCKET)


class StoreReadme(Migration):
    def __init__(self) -> None:
        super().__init__(description="Store readme.txt in the docs bucket")

    async def up(self, db: Any) -> bool:
        if await db[f"{BUCKET}.files"].find_one({"filename": "readme.txt"}) is None:
            await bucket(db).upload_from_stream("readme.txt", README)
        return True

    async def down(self, db: Any) -> bool:
        async for grid_out in bucket(db).find({"filename": "readme.txt"}):
            await bucket(db).delete(grid_out._id)
        return True


class ReadReadmeBack(Migration):
    def __init__(self) -> None:
        super().__init__(description="Read readme.txt back through motor's bucket")

    async def up(self, db: Any) -> bool:
        stream = await bucket(db).open_download_stream_by_name("readme.txt")
        data: bytes = await stream.read()
        return data == README

    async def down(self, db: Any) -> bool:
        return True


async def count_files(run: RunInfo) -> bool:
    """The before hook: list the bucket through motor (fails on a PyMongo database)."""
    await bucket(run.db).find({}).to_list(None)
    return True


MIGRATIONS: list[Migration] = [StoreReadme(), ReadReadmeBack()]
HOOKS = RunHooks(before=count_files)
