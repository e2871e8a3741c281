"""The real cause of a failed step: the failed server command and the server's message, not "returned False".

``DropOldTokenIndex`` drops an index that does not exist; one variant swallows the error, logs it
and returns False (the guide's style), the other lets it raise. With a PyMongo client on the shared
server (transactions available) the first attempt is also refused by the transaction (dropIndexes),
so the step runs again outside one and fails there on its own: the message names that failure.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import AsyncIterator
from typing import Any

import pytest
from motor.motor_asyncio import AsyncIOMotorClient
from pymongo import MongoClient
from pymongo.asynchronous.database import AsyncDatabase

import analytiq_data as ad
from analytiq_data.client import AnalytiqClient
from analytiq_data.errors import ConfigurationError
from analytiq_data.migrations import Migration, StepFailedError
from tests.migrations_fixtures import original_app
from tests.migrations_fixtures.helpers import CLI, ROOT, history_docs, version_doc
from tests.server.test_dropin_original_app import App

SERVER_SAYS = "dropIndexes on access_tokens failed: index not found with name [token_1]"
CASES = [
    (original_app.SWALLOWS, f"version 1 (DropOldTokenIndex) failed (up): returned False after {SERVER_SAYS}"),
    (
        original_app.RAISES,
        "version 1 (DropOldTokenIndexRaising) failed (up): OperationFailure: dropIndexes on access_tokens: "
        "index not found with name [token_1]",
    ),
]


@pytest.fixture(params=["motor", "pymongo"])
async def app(request: pytest.FixtureRequest, mongo_uri: str, db_name: str) -> AsyncIterator[Any]:
    if request.param == "motor":
        motor: AsyncIOMotorClient[Any] = AsyncIOMotorClient(mongo_uri)
        yield App(motor, db_name)
        motor.close()
        return
    async with AnalytiqClient(uri=mongo_uri, env=db_name) as client:
        yield client


@pytest.mark.parametrize(("migrations", "message"), CASES, ids=["swallows", "raises"])
async def test_the_error_and_the_history_name_the_failed_command(
    app: Any, db: AsyncDatabase[Any], migrations: list[Migration], message: str
) -> None:
    await db.access_tokens.insert_one({"token": "t"})
    with pytest.raises(StepFailedError) as info:
        await ad.migrations.run_migrations(app, migrations=migrations)
    assert info.value.message == message
    assert info.value.hint is not None and info.value.hint.startswith(
        "the database is at version 0; it ran outside a transaction and will run again next time"
    )
    record = (await ad.migrations.history(app, limit=1)).records[0]
    assert (record.outcome, record.transactional) == ("failed", False)
    assert record.error == message.split("failed (up): ", 1)[1]
    raw = (await history_docs(db))[-1]
    assert raw["failed_commands"] == ["dropIndexes on access_tokens: index not found with name [token_1]"]
    assert await version_doc(db) is None


def test_analytiq_db_history_shows_the_cause(mongo_uri: str, db_name: str) -> None:
    sync: MongoClient[Any] = MongoClient(mongo_uri)
    try:
        sync[db_name].access_tokens.insert_one({"token": "t"})
    finally:
        sync.close()
    where = ["--uri", mongo_uri, "--db", db_name]
    migrations = ["--migrations", "tests.migrations_fixtures.original_app:SWALLOWS"]
    up = subprocess.run([CLI, "up", *migrations, *where], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert up.returncode == 6
    assert up.stderr.splitlines()[-1].startswith(
        f"analytiq-db: error: version 1 (DropOldTokenIndex) failed (up): returned False after {SERVER_SAYS} — "
    )
    history = subprocess.run([CLI, "history", *where], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert history.returncode == 0, history.stderr
    row = next(line for line in history.stdout.splitlines() if "DropOldTokenIndex" in line)
    assert "failed" in row and f"returned False after {SERVER_SAYS}" in row
    history = subprocess.run([CLI, "history", "--json", *where], cwd=ROOT, capture_output=True, text=True, timeout=60)
    record = json.loads(history.stdout)["records"][0]
    assert record["error"] == f"returned False after {SERVER_SAYS}"
    assert record["failed_commands"] == ["dropIndexes on access_tokens: index not found with name [token_1]"]
    assert record["transaction_note"].startswith(
        "refused in a transaction, ran outside one: dropIndexes on access_tokens: Cannot run 'dropIndexes'"
    )


class SwallowsAfterListCollections(Migration):
    """Return True although list_collection_names failed in the transaction: must not count as done there."""

    async def up(self, db: Any) -> bool:
        try:
            if "old" in await db.list_collection_names():
                await db.old.drop()
        except Exception:
            pass  # the original ignored this: "old" may not exist
        await db.marks.insert_one({"ran": True})
        return True


async def test_a_swallowed_refusal_reruns_the_whole_step_outside_a_transaction(
    mongo_uri: str, db_name: str, db: AsyncDatabase[Any]
) -> None:
    await db.old.insert_one({"x": 1})
    async with AnalytiqClient(uri=mongo_uri, env=db_name) as client:
        result = await ad.migrations.run_migrations(client, migrations=[SwallowsAfterListCollections()])
    assert not result.steps[0].transactional
    assert "old" not in await db.list_collection_names()  # the drop happened, outside the transaction
    assert await db.marks.count_documents({}) == 1  # the aborted attempt left nothing: one mark, not two


@pytest.mark.parametrize(
    ("client", "kind"),
    [
        ("sync", "pymongo.synchronous.mongo_client.MongoClient"),
        ("text", "builtins.str"),
    ],
)
async def test_an_unsupported_client_kind_gets_one_clear_line(
    mongo_uri: str, db_name: str, client: str, kind: str
) -> None:
    sync: MongoClient[Any] = MongoClient(mongo_uri, connect=False)
    app = App(sync if client == "sync" else mongo_uri, db_name)
    try:
        for call in (ad.migrations.run_migrations(app, migrations=original_app.SWALLOWS), ad.migrations.status(app)):
            with pytest.raises(ConfigurationError) as info:
                await call
            assert info.value.user_line() == (
                f"analytiq_client.mongodb_async is a {kind}: the migrations need pymongo.AsyncMongoClient or "
                "motor's AsyncIOMotorClient — give the client an async MongoDB client, e.g. AsyncMongoClient(uri) "
                "or AsyncIOMotorClient(uri)"
            )
    finally:
        sync.close()
