"""A 35-class list written for the original runner runs unchanged, up to the top and back down.

On the shared test server (a one-node replica set: transactions available) with the app's own motor
client and with a PyMongo client. With motor every step runs outside a transaction, as the original
runner ran them. With PyMongo steps run in a transaction where the server allows their commands;
a step that meets a refusal (DDL, GridFS cursors; even one it swallows and answers with False) runs
again outside one. Either way every step applies, and the data ends as the original would leave it.
Versions 1 and 2 have downs that return False by design, so "down" goes to version 2, and past it
fails naming the step.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from motor.motor_asyncio import AsyncIOMotorClient, AsyncIOMotorGridFSBucket
from pymongo.asynchronous.database import AsyncDatabase

import analytiq_data as ad
from analytiq_data.client import AnalytiqClient
from analytiq_data.migrations import StepFailedError
from tests.migrations_fixtures import original_app, readme_examples
from tests.migrations_fixtures.helpers import history_docs, version_doc
from tests.migrations_fixtures.original_app.seed import seed
from tests.migrations_fixtures.readme_examples import AppClient

HEAD = len(original_app.MIGRATIONS)
# Steps whose commands no server accepts in a transaction (listCollections, drop, renameCollection,
# dropIndexes, listIndexes) or that the driver refuses in one (GridFS cursors).
REFUSED_UP = {
    "OcrKeyMigration", "RenameLlmRunsCollection", "DropLegacyTokenHashIndex", "CreateQueueCollections",
    "DropTmpExports", "RenameDocsCollection", "CreateFormsCollection", "FormSubmissionsCollection",
    "DropTagsNameIndex", "OcrMetadataMigration", "PaymentsCustomersCollection", "RenameLlmQueue", "ReconcileIndexes",
}  # fmt: skip
# Plain document work: a transaction is safe and used.
DATA_ONLY_UP = {
    "NormalizeUserEmails", "BackfillOrganizationType", "LlmResultFieldsMigration", "SchemaJsonSchemaMigration",
    "RenameJsonSchemaToResponseFormat", "TagsOrganizationMigration", "PromptVersionMigration",
    "DocumentTagIdsMigration", "SchemaRevisionsSplit", "UsersRoleDefault", "OrganizationMembersRoles",
    "DocumentsPdfIdBackfill", "CleanupEmptyLlmResults", "CountersCollection",
}  # fmt: skip


class App:
    """The application's client object as the original code used it: ``mongodb_async`` and ``env``."""

    def __init__(self, client: Any, env: str) -> None:
        self.mongodb_async = client
        self.env = env


@pytest.fixture
async def motor_app(mongo_uri: str, db_name: str) -> AsyncIterator[App]:
    client: AsyncIOMotorClient[Any] = AsyncIOMotorClient(mongo_uri, tz_aware=True)
    try:
        yield App(client, db_name)
    finally:
        client.close()


@pytest.fixture
async def pymongo_app(mongo_uri: str, db_name: str) -> AsyncIterator[AnalytiqClient]:
    client = AnalytiqClient(uri=mongo_uri, env=db_name)
    try:
        yield client
    finally:
        await client.close()


async def at_top(db: AsyncDatabase[Any]) -> None:
    """Assert the data is what the whole list leaves."""
    names = set(await db.list_collection_names())
    assert {"llm.runs", "documents", "forms", "form_submissions", "payments.customers", "queues.llm"} <= names
    assert not names & {"llm_runs", "docs", "tmp_exports", "llm_queue"}
    assert await db["llm.runs"].count_documents({"is_edited": False, "updated_llm_result": {"$exists": True}}) == 30
    assert await db.schemas.count_documents({"response_format.type": "json_schema", "fields": {"$exists": False}}) == 6
    assert await db.users.count_documents({"email": {"$regex": "[A-Z]"}}) == 0
    files = sorted([f["filename"] async for f in db["ocr.files"].find()])
    assert len(files) == 5 and all(name.endswith("_json") for name in files)
    assert await db["ocr.files"].count_documents({"metadata.document_id": {"$exists": True}}) == 5
    assert {"email_unique"} <= set(await db.users.index_information())
    tokens = await db.access_tokens.index_information()
    assert "token_1" in tokens and tokens["token_1"].get("unique") and "token_hash_1" not in tokens
    assert "expires_at_ttl" in tokens
    queue = await db.ocr_queue.index_information()
    assert queue["pending_by_age"]["partialFilterExpression"] == {"status": "pending"}
    assert {"state_upload", "org_upload"} <= set(await db.documents.index_information())
    assert "org_name_unique" in await db.tags.index_information() and "name_1" not in await db.tags.index_information()
    assert (await version_doc(db) or {})["version"] == HEAD


async def at_two(db: AsyncDatabase[Any]) -> None:
    """Assert the data is back where version 2 left it."""
    names = set(await db.list_collection_names())
    assert {"llm_runs", "docs"} <= names and not names & {"llm.runs", "documents", "forms", "ocr_queue", "counters"}
    assert await db.llm_runs.count_documents({"updated_llm_result": {"$exists": True}}) == 0
    assert await db.schemas.count_documents({"fields": {"$exists": True}, "response_format": {"$exists": False}}) == 6
    files = sorted([f["filename"] async for f in db["ocr.files"].find()])
    assert len(files) == 5 and all(name.endswith("_list") for name in files)
    assert set(await db.access_tokens.index_information()) == {"_id_", "token_hash_1"}
    assert set(await db.tags.index_information()) == {"_id_", "name_1"}
    assert set(await db.docs.index_information()) == {"_id_"}
    assert await db.docs.count_documents({"tags": {"$exists": True}}) == 25
    assert (await version_doc(db) or {})["version"] == 2


async def _down_past_the_irreversible(app: Any) -> None:
    with pytest.raises(StepFailedError) as info:
        await ad.migrations.run_migrations(app, target_version=0, migrations=original_app.MIGRATIONS)
    assert info.value.message == "version 2 (BackfillOrganizationType) failed (down): returned False"


async def test_the_original_list_runs_up_and_down_on_the_apps_motor_client(
    motor_app: App, db: AsyncDatabase[Any]
) -> None:
    await seed(db)
    result = await ad.migrations.run_migrations(motor_app, migrations=original_app.MIGRATIONS)
    assert result.transactions, "the shared server offers transactions"
    assert [s.version for s in result.steps] == list(range(1, HEAD + 1))
    assert not any(s.transactional for s in result.steps)  # motor's operations cannot join one
    assert {s.transaction_note for s in result.steps} == {"the app's motor client cannot join the engine's transaction"}
    await at_top(db)
    bucket = AsyncIOMotorGridFSBucket(motor_app.mongodb_async[motor_app.env], bucket_name="ocr")
    name = (await db["ocr.files"].find_one())["filename"]  # type: ignore[index]
    stream = await bucket.open_download_stream_by_name(name)
    assert (await stream.read()).startswith(b"ocr text of ")  # re-uploaded through motor's bucket, intact

    result = await ad.migrations.run_migrations(motor_app, target_version=2, migrations=original_app.MIGRATIONS)
    assert [s.version for s in result.steps] == list(range(HEAD, 2, -1))
    await at_two(db)
    await _down_past_the_irreversible(motor_app)
    assert (await version_doc(db) or {})["version"] == 2


async def test_the_original_list_runs_up_and_down_on_a_pymongo_client_with_transactions_where_safe(
    pymongo_app: AnalytiqClient, db: AsyncDatabase[Any]
) -> None:
    await seed(db)
    result = await ad.migrations.run_migrations(pymongo_app, migrations=original_app.MIGRATIONS)
    assert [s.version for s in result.steps] == list(range(1, HEAD + 1))
    by_name = {s.name: s for s in result.steps}
    for name in REFUSED_UP:
        step = by_name[name]
        assert not step.transactional and (step.transaction_note or "").startswith(
            "refused in a transaction, ran outside one: "
        ), name
    assert all(by_name[name].transactional and by_name[name].transaction_note is None for name in DATA_ONLY_UP)
    await at_top(db)
    records = {r["name"]: r for r in await history_docs(db) if r["direction"] == "up"}
    assert records["RenameLlmRunsCollection"]["transaction_note"] == (
        "refused in a transaction, ran outside one: listCollections: Cannot run 'listCollections' in a "
        "multi-document transaction."
    )
    assert records["RenameLlmRunsCollection"]["transactional"] is False
    assert records["DropTagsNameIndex"]["transaction_note"].startswith(
        "refused in a transaction, ran outside one: dropIndexes on tags: Cannot run 'dropIndexes'"
    )
    assert "GridFS does not support multi-document transactions" in records["OcrMetadataMigration"]["transaction_note"]
    assert records["UsersRoleDefault"]["transactional"] is True

    result = await ad.migrations.run_migrations(pymongo_app, target_version=2, migrations=original_app.MIGRATIONS)
    assert [s.version for s in result.steps] == list(range(HEAD, 2, -1))
    await at_two(db)
    await _down_past_the_irreversible(pymongo_app)


async def test_the_readme_motor_example_runs(mongo_uri: str, db_name: str, db: AsyncDatabase[Any]) -> None:
    app = AppClient(mongo_uri, db_name)  # docs/how-to/motor.md's class, verbatim (test_engine_readme checks)
    try:
        await db.users.insert_one({"_id": 1, "name": "Ada"})
        result = await ad.migrations.run_migrations(app, migrations=readme_examples.MIGRATIONS)
        assert [s.version for s in result.steps] == [1, 2, 3, 4]
        assert (await db.users.find_one({"_id": 1}) or {}).get("full_name") == "Ada"
    finally:
        app.mongodb_async.close()
