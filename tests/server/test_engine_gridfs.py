"""GridFS inside a transactional step: the step gets a real AsyncDatabase (so AsyncGridFSBucket
accepts it) whose operations join the step's transaction without ``session=``.

The bucket exists before the step runs (its indexes were created by an earlier upload), as
Analytiq's ``ocr`` bucket does. Note: SecantusDB cannot create indexes inside a transaction; on
mongod (read concern "local", which the engine uses) the bucket's first upload may create them.
"""

from __future__ import annotations

from typing import Any

import pytest
from gridfs import AsyncGridFSBucket
from pymongo.asynchronous.database import AsyncDatabase

import analytiq_data as ad
from analytiq_data.client import AnalytiqClient
from analytiq_data.migrations import StepFailedError
from tests.migrations_fixtures import gridfs_steps


async def _names(db: AsyncDatabase[Any]) -> list[str]:
    return sorted([f["filename"] async for f in db["ocr.files"].find()])


async def test_gridfs_bucket_in_a_transactional_step_commits_and_rolls_back(
    aclient: AnalytiqClient, db: AsyncDatabase[Any]
) -> None:
    bucket = AsyncGridFSBucket(db, bucket_name="ocr")
    for doc_id in ("a1", "b2"):
        await bucket.upload_from_stream(f"{doc_id}_list", f"ocr of {doc_id}".encode() * 1000)
    chunks_before = await db["ocr.chunks"].count_documents({})

    await db.flags.insert_one({"_id": "fail"})
    with pytest.raises(StepFailedError, match="failing after the GridFS writes"):
        await ad.migrations.run_migrations(aclient, migrations=gridfs_steps.MIGRATIONS)
    assert await _names(db) == ["a1_list", "b2_list"]  # renames and upload rolled back together
    assert await db["ocr.chunks"].count_documents({}) == chunks_before

    await db.flags.delete_many({})
    result = await ad.migrations.run_migrations(aclient, migrations=gridfs_steps.MIGRATIONS)
    assert result.steps[0].transactional
    assert await _names(db) == ["a1_json", "b2_json", "migrated-marker"]
    data = await (await bucket.open_download_stream_by_name("a1_json")).read()
    assert data == b"ocr of a1" * 1000  # chunks untouched

    await ad.migrations.run_migrations(aclient, target_version=0, migrations=gridfs_steps.MIGRATIONS)
    assert await _names(db) == ["a1_list", "b2_list"]
    assert await db["ocr.chunks"].count_documents({}) == chunks_before


async def test_bucket_find_refused_in_a_transaction_runs_outside_one(
    aclient: AnalytiqClient, db: AsyncDatabase[Any]
) -> None:
    """The driver refuses GridFS cursors in a transaction; the original runner had none: the step runs outside."""
    await AsyncGridFSBucket(db, bucket_name="ocr").upload_from_stream("x_list", b"x")
    result = await ad.migrations.run_migrations(aclient, migrations=gridfs_steps.BUCKET_FIND)
    assert [(s.version, s.transactional) for s in result.steps] == [(1, False)]
    note = "refused in a transaction, ran outside one: InvalidOperation: GridFS does not support multi-document"
    assert (result.steps[0].transaction_note or "").startswith(note)
    record = (await ad.migrations.history(aclient, limit=1)).records[0]
    assert (record.outcome, record.transactional) == ("applied", False)
    assert (record.transaction_note or "").startswith(note)
