"""From Python, the client object decides the kind of database steps get; a Target's ``driver`` overrides it.

The examples of docs/how-to/motor.md: a PyMongo client with ``Target(..., driver="motor")`` runs a list
written for motor; a motor client with ``driver="pymongo"`` gives steps PyMongo's database (and
transactions).
"""

from __future__ import annotations

from typing import Any

import pytest
from motor.motor_asyncio import AsyncIOMotorClient
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

import analytiq_data as ad
from analytiq_data.migrations import StepFailedError, Target
from tests.migrations_fixtures import basic, motor_gridfs


async def test_a_pymongo_client_with_driver_motor_runs_a_list_written_for_motor(
    client: AsyncMongoClient[Any], mongo_uri: str, db_name: str, db: AsyncDatabase[Any]
) -> None:
    with pytest.raises(StepFailedError, match=r"must be +MotorDatabase"):
        await ad.migrations.up(Target(client, db_name, mongo_uri), migrations=motor_gridfs.MIGRATIONS)
    target = Target(client, db_name, mongo_uri, driver="motor")
    result = await ad.migrations.up(target, migrations=motor_gridfs.MIGRATIONS, hooks=motor_gridfs.HOOKS)
    assert [s.version for s in result.steps] == [1, 2] and not any(s.transactional for s in result.steps)
    assert await db["docs.files"].count_documents({"filename": "readme.txt"}) == 1
    await ad.migrations.down(target, to=0, migrations=motor_gridfs.MIGRATIONS)
    assert await db["docs.files"].count_documents({}) == 0


async def test_a_motor_client_with_driver_pymongo_gives_steps_pymongo_and_transactions(
    mongo_uri: str, db_name: str
) -> None:
    motor_client: AsyncIOMotorClient[Any] = AsyncIOMotorClient(mongo_uri, tz_aware=True)
    try:
        target = Target(motor_client, db_name, mongo_uri, driver="pymongo")
        result = await ad.migrations.up(target, migrations=basic.MIGRATIONS)
        assert result.transactions and all(s.transactional for s in result.steps)
    finally:
        motor_client.close()


async def test_analytiq_s_own_four_run_under_the_app_s_motor_client(mongo_uri: str, db_name: str) -> None:
    """The Analytiq app hands run_migrations its motor client; its four steps are written for PyMongo
    (``database_kind = "pymongo"``) and get PyMongo's database (motor's cursors are not awaitable)."""
    from analytiq_data.migrations.sample import generate_sample

    class AppClient:  # the application's own client object, as the guide has it
        def __init__(self) -> None:
            self.mongodb_async: AsyncIOMotorClient[Any] = AsyncIOMotorClient(mongo_uri, tz_aware=True)
            self.env = db_name

    plain: AsyncMongoClient[Any] = AsyncMongoClient(mongo_uri, tz_aware=True)
    app = AppClient()
    try:
        await generate_sample(plain[db_name], docs=40)
        await ad.migrations.run_migrations(app, migrations=ad.migrations.MIGRATIONS)
        assert await ad.migrations.get_current_version(app.mongodb_async[db_name]) == 4
        assert await plain[db_name]["schemas"].count_documents({"response_format": {"$exists": True}}) > 0
        await ad.migrations.run_migrations(app, target_version=0, migrations=ad.migrations.MIGRATIONS)
        assert await ad.migrations.get_current_version(app.mongodb_async[db_name]) == 0
    finally:
        app.mongodb_async.close()
        await plain.close()
