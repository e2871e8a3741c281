"""Each kind of collection DDL an original-runner step does, on the transactional shared server.

PyMongo client: the step is tried in a transaction; commands no server runs in one (renameCollection,
drop, listCollections, dropIndexes, listIndexes) make it run again outside, recorded as such.
Index and collection creation may run in a transaction (SecantusDB accepts them there; mongod only on
a new collection), so for those only the outcome is asserted. Motor: GridFS through motor's bucket.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from motor.motor_asyncio import AsyncIOMotorClient, AsyncIOMotorGridFSBucket
from pymongo.asynchronous.database import AsyncDatabase

import analytiq_data as ad
from analytiq_data.client import AnalytiqClient
from analytiq_data.migrations import Migration, StepFailedError
from tests.migrations_fixtures.helpers import history_docs
from tests.migrations_fixtures.original_app import step
from tests.migrations_fixtures.original_app.seed import seed
from tests.server.test_dropin_original_app import App

Check = Callable[[AsyncDatabase[Any]], Awaitable[bool]]


async def _names(db: AsyncDatabase[Any]) -> set[str]:
    return set(await db.list_collection_names())


async def _indexes(db: AsyncDatabase[Any], collection: str) -> dict[str, Any]:
    return dict(await db[collection].index_information())


# (step, refused in every transaction?, after up, after down)
KINDS: dict[str, tuple[Migration, bool, Check, Check]] = {
    "rename_collection": (
        step("RenameLlmRunsCollection"),
        True,
        lambda db: _has(db, "llm.runs", not_="llm_runs"),
        lambda db: _has(db, "llm_runs", not_="llm.runs"),
    ),
    "drop": (step("DropTmpExports"), True, lambda db: _has(db, None, not_="tmp_exports"), lambda db: _true()),
    "create_collection": (
        step("CreateQueueCollections"),
        True,  # it also lists the collections first
        lambda db: _has(db, "ocr_queue"),
        lambda db: _has(db, None, not_="ocr_queue"),
    ),
    "create_index_compound_background": (
        step("DocumentsStateIndex"),
        False,
        lambda db: _index(db, "docs", "state_upload", key=[("state", 1), ("upload_date", -1)]),
        lambda db: _no_index(db, "docs", "state_upload"),
    ),
    "create_index_unique": (
        step("UniqueUserEmailIndex"),
        False,
        lambda db: _index(db, "users", "email_unique", unique=True),
        lambda db: _no_index(db, "users", "email_unique"),
    ),
    "create_index_ttl": (
        step("AccessTokensExpiryIndex"),
        False,
        lambda db: _index(db, "access_tokens", "expires_at_ttl", expireAfterSeconds=0),
        lambda db: _no_index(db, "access_tokens", "expires_at_ttl"),
    ),
    "drop_index_after_index_information": (
        step("DropLegacyTokenHashIndex"),
        True,
        lambda db: _no_index(db, "access_tokens", "token_hash_1"),
        lambda db: _index(db, "access_tokens", "token_hash_1"),
    ),
    "drop_index": (
        step("DropTagsNameIndex"),
        True,
        lambda db: _no_index(db, "tags", "name_1"),
        lambda db: _index(db, "tags", "name_1"),
    ),
}


async def _true() -> bool:
    return True


async def _has(db: AsyncDatabase[Any], name: str | None, not_: str | None = None) -> bool:
    names = await _names(db)
    return (name is None or name in names) and (not_ is None or not_ not in names)


async def _index(db: AsyncDatabase[Any], collection: str, name: str, **expected: Any) -> bool:
    info = (await _indexes(db, collection)).get(name)
    return info is not None and all(info.get(k) == v for k, v in expected.items())


async def _no_index(db: AsyncDatabase[Any], collection: str, name: str) -> bool:
    return name not in await _indexes(db, collection)


@pytest.fixture
async def app(mongo_uri: str, db_name: str) -> AsyncIterator[AnalytiqClient]:
    async with AnalytiqClient(uri=mongo_uri, env=db_name) as c:
        yield c


@pytest.mark.parametrize("kind", list(KINDS))
async def test_each_ddl_kind_runs_up_and_down(app: AnalytiqClient, db: AsyncDatabase[Any], kind: str) -> None:
    migration, always_refused, after_up, after_down = KINDS[kind]
    await seed(db)
    result = await ad.migrations.run_migrations(app, migrations=[migration])
    assert await after_up(db), kind
    record = (await history_docs(db))[-1]
    assert record["outcome"] == "applied" and record["transactional"] is result.steps[0].transactional
    if always_refused:
        assert not result.steps[0].transactional
        assert record["transaction_note"].startswith("refused in a transaction, ran outside one: "), record
    await ad.migrations.run_migrations(app, target_version=0, migrations=[migration])
    assert await after_down(db), kind


async def test_the_partial_index_of_a_step(app: AnalytiqClient, db: AsyncDatabase[Any]) -> None:
    await seed(db)
    steps = [step("CreateQueueCollections"), step("QueueClaimPartialIndex")]
    await ad.migrations.run_migrations(app, migrations=steps)
    for name in ("ocr_queue", "llm_queue"):
        index = (await _indexes(db, name))["pending_by_age"]
        assert index["partialFilterExpression"] == {"status": "pending"}


async def test_motor_gridfs_through_a_step(mongo_uri: str, db_name: str, db: AsyncDatabase[Any]) -> None:
    motor: AsyncIOMotorClient[Any] = AsyncIOMotorClient(mongo_uri)
    try:
        motor_app = App(motor, db_name)
        bucket = AsyncIOMotorGridFSBucket(motor[db_name], bucket_name="ocr")
        for name in ("a1_list", "b2_list"):
            await bucket.upload_from_stream(name, f"text of {name}".encode(), metadata={"type": "ocr"})
        await ad.migrations.run_migrations(motor_app, migrations=[step("OcrKeyMigration")])
        names = sorted([f.filename async for f in bucket.find({})])
        assert names == ["a1_json", "b2_json"]
        stream = await bucket.open_download_stream_by_name("a1_json")
        assert await stream.read() == b"text of a1_list" and stream.metadata == {"type": "ocr"}
        await ad.migrations.run_migrations(motor_app, target_version=0, migrations=[step("OcrKeyMigration")])
        assert sorted([f.filename async for f in bucket.find({})]) == ["a1_list", "b2_list"]
        assert await db["ocr.chunks"].count_documents({}) == 2
    finally:
        motor.close()


class NotIdempotentAfterListing(Migration):
    """Refused in a transaction (listCollections), then fails on its own outside one."""

    idempotent = False

    async def up(self, db: Any) -> bool:
        await db.list_collection_names()
        await db.partial.insert_one({"written": True})
        raise ValueError("boom after writing")


async def test_a_step_not_idempotent_that_falls_back_and_fails_leaves_the_database_dirty(
    app: AnalytiqClient, db: AsyncDatabase[Any]
) -> None:
    with pytest.raises(StepFailedError) as info:
        await ad.migrations.run_migrations(app, migrations=[NotIdempotentAfterListing()])
    assert info.value.message == "version 1 (NotIdempotentAfterListing) failed (up): ValueError: boom after writing"
    assert info.value.hint is not None and "the database is now dirty" in info.value.hint
    record = (await history_docs(db))[-1]
    assert (record["outcome"], record["dirty"], record["transactional"]) == ("failed", True, False)
    assert await db.partial.count_documents({}) == 1  # the transactional attempt left nothing; the re-run wrote one
