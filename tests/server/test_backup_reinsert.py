"""Writes of a stopped run that land late: batches over documents, records in the resume state.

After a killed run, a batch the server was still executing may land after ``--resume`` restarted its
range; the resumed copy then meets duplicate ``_id``s. The destination must end up holding exactly
the documents read now: identical ones kept, differing ones replaced, ones not read removed; other
unique keys still fail; and what a resume writes conditionally changes nothing once it is stale.
"""

from __future__ import annotations

from typing import Any

import bson
import pytest
from bson import CodecOptions
from bson.raw_bson import RawBSONDocument
from pymongo import DeleteOne, ReplaceOne
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError

from analytiq_data.backup.copy import insert_batch
from analytiq_data.backup.digest import Digest
from analytiq_data.backup.plan import IdRange, Intent, Kind, Plan
from analytiq_data.backup.reconcile import SeenIds, remove_unread, same_document
from analytiq_data.backup.results import CollectionReport
from analytiq_data.backup.state import BackupState

RAW: CodecOptions[RawBSONDocument] = CodecOptions(document_class=RawBSONDocument)


def raw(doc: dict[str, Any]) -> RawBSONDocument:
    return RawBSONDocument(bson.encode(doc))


async def stored(db: AsyncDatabase[Any], name: str, *, natural: bool = False) -> list[bytes]:
    cursor = db.get_collection(name, codec_options=RAW).find()
    docs = [bytes(d.raw) async for d in (cursor.hint([("$natural", 1)]) if natural else cursor.sort("_id", 1))]
    return docs


async def test_duplicates_of_identical_documents_are_kept_and_stale_ones_replaced(db: AsyncDatabase[Any]) -> None:
    batch = [raw({"_id": i, "v": i, "nested": {"a": [i]}}) for i in range(10)]
    await db.plain.insert_many([{"_id": 2, "v": 2, "nested": {"a": [2]}}, {"_id": 5, "v": "stale"}])

    await insert_batch(db.get_collection("plain", codec_options=RAW), batch, ordered=False)

    assert await stored(db, "plain") == [bytes(d.raw) for d in batch]


async def test_an_ordered_batch_into_a_capped_collection_goes_on_after_each_duplicate(db: AsyncDatabase[Any]) -> None:
    await db.create_collection("events", capped=True, size=1 << 20)
    batch = [raw({"_id": i, "v": i}) for i in range(8)]
    # What an interrupted run wrote in order, the last one before a change at the source (same size).
    await db.events.insert_many([{"_id": 0, "v": 0}, {"_id": 1, "v": 1}, {"_id": 2, "v": -2}])

    await insert_batch(db.get_collection("events", codec_options=RAW), batch, ordered=True)

    assert await stored(db, "events", natural=True) == [bytes(d.raw) for d in batch]


async def test_a_duplicate_of_another_unique_key_still_fails(db: AsyncDatabase[Any]) -> None:
    await db.users.create_index("email", unique=True)
    await db.users.insert_one({"_id": 1, "email": "a@example.com"})
    with pytest.raises(BulkWriteError):
        await insert_batch(
            db.get_collection("users", codec_options=RAW), [raw({"_id": 2, "email": "a@example.com"})], ordered=False
        )
    assert await db.users.count_documents({}) == 1


async def test_records_of_the_stopped_run_landing_after_the_resume_began_do_not_count(db: AsyncDatabase[Any]) -> None:
    plan = Plan((Intent("c", Kind.COLLECTION, count=10, ranges=(IdRange(0, None, 5), IdRange(1, 5, None))),), ())
    stopped = BackupState(db)
    await stopped.save_plan(plan, src_db="src", source="here")
    await stopped.range_done("c", 0, Digest(5, 50, 1))

    resumed = BackupState(db)
    await resumed.adopt()
    assert await resumed.done_ranges() == {("c", 0): Digest(5, 50, 1)}

    await stopped.range_done("c", 1, Digest(5, 50, 2))  # was on its way when the run stopped
    await stopped.collection_done(CollectionReport("c", "collection"))
    assert await resumed.done_ranges() == {("c", 0): Digest(5, 50, 1)}
    assert await resumed.done_collections() == {}
    await resumed.range_done("c", 1, Digest(5, 50, 3))
    assert set(await resumed.done_ranges()) == {("c", 0), ("c", 1)}

    again = BackupState(db)  # a second resume takes over what the first one recorded, no more
    await again.adopt()
    assert await again.done_ranges() == {("c", 0): Digest(5, 50, 1), ("c", 1): Digest(5, 50, 3)}


async def test_a_conditional_write_changes_only_the_document_it_was_made_for(db: AsyncDatabase[Any]) -> None:
    """What a resume replaces or deletes is conditional on the exact document it saw: landing late, it does nothing."""
    coll = db.get_collection("plain", codec_options=RAW)
    seen = raw({"_id": 1, "v": "earlier run", "$odd": {"a.b": 1}})
    await coll.insert_one(seen)
    newer = raw({"_id": 1, "v": "later run"})
    await coll.replace_one({"_id": 1}, newer)  # a later run wrote it meanwhile

    late = await coll.bulk_write([ReplaceOne(same_document(seen), raw({"_id": 1, "v": "stale"}))])
    assert late.matched_count == 0
    assert await stored(db, "plain") == [bytes(newer.raw)]
    now = await coll.bulk_write([DeleteOne(same_document(newer))])
    assert now.deleted_count == 1


async def test_documents_of_a_range_this_run_did_not_read_are_removed(db: AsyncDatabase[Any]) -> None:
    coll = db.get_collection("plain", codec_options=RAW)
    await coll.insert_many([raw({"_id": i, "v": i}) for i in range(20)])
    seen = SeenIds()
    seen.add(raw({"_id": i}) for i in range(10, 17))  # read now: 10..16; 17..19 were deleted at the source

    removed = await remove_unread(coll, IdRange(1, 10, 20), seen, batch=2)

    assert removed == 3
    assert await coll.count_documents({}) == 17
    assert {d["_id"] async for d in db.plain.find()} == set(range(17)), "outside the range: untouched"
