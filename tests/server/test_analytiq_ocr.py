"""OcrKeyMigration: ``<id>_list`` → ``<id>_json`` in GridFS bucket ``ocr``, and what down leaves alone."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from gridfs import AsyncGridFSBucket
from pymongo.asynchronous.database import AsyncDatabase

from analytiq_data.migrations.analytiq.shapes import ocr_json_name
from analytiq_data.migrations.migration import OcrKeyMigration
from analytiq_data.migrations.sample import generate_sample
from tests.server.test_analytiq_support import assert_same, snapshot_all


async def files_by_id(db: AsyncDatabase[Any]) -> dict[Any, str]:
    return {f["_id"]: f["filename"] for f in await db["ocr.files"].find({}, {"filename": 1}).to_list()}


async def test_up_renames_the_suffix_keeps_chunks_and_never_duplicates(db: AsyncDatabase[Any]) -> None:
    await generate_sample(db, docs=600, seed=5)
    before = await files_by_id(db)
    chunks = await snapshot_all(db, ("ocr.chunks",))
    names = defaultdict(list)
    for file_id, name in before.items():
        names[name].append(file_id)
    app_json = {name for name in names if name.endswith("_json")}
    revisions = {name for name, ids in names.items() if name.endswith("_list") and len(ids) > 1}
    conflicts = {name for name in names if ocr_json_name(name) in app_json}
    assert revisions and conflicts, "the sample has both edge cases"

    await OcrKeyMigration(batch_size=25).up(db)
    after = await files_by_id(db)
    assert set(after) == set(before)  # same files: nothing created or deleted
    for file_id, old in before.items():
        if old in conflicts or not old.endswith("_list"):
            assert after[file_id] == old, f"{old} must be left alone"
        else:
            assert after[file_id] == old[: -len("_list")] + "_json"
    assert after[names["doc_listing_list"][0]] == "doc_listing_json"
    assert after[names["doc_listing"][0]] == "doc_listing"
    assert after[names["report_list.bak"][0]] == "report_list.bak"
    for name in revisions:  # all revisions renamed together, still one name
        assert {after[i] for i in names[name]} == {ocr_json_name(name)}
    for name in conflicts:  # exactly the app's _json file(s) under the new name: no duplicate
        new = ocr_json_name(name) or ""
        assert sorted(i for i, n in after.items() if n == new) == sorted(names[new])
    assert_same(chunks, await snapshot_all(db, ("ocr.chunks",)))


async def test_the_app_reads_the_same_bytes_under_the_new_name(db: AsyncDatabase[Any]) -> None:
    await generate_sample(db, docs=40, seed=6)
    bucket = AsyncGridFSBucket(db, bucket_name="ocr")
    file = await db["ocr.files"].find_one({"filename": {"$regex": "^[0-9a-f]{24}_list$"}})
    assert file is not None
    old_bytes = await (await bucket.open_download_stream_by_name(file["filename"])).read()
    await OcrKeyMigration().up(db)
    new_bytes = await (await bucket.open_download_stream_by_name(ocr_json_name(file["filename"]) or "")).read()
    assert new_bytes == old_bytes


async def test_down_leaves_files_the_app_wrote_renamed_or_deleted(db: AsyncDatabase[Any]) -> None:
    await generate_sample(db, docs=200, seed=7)
    original = await snapshot_all(db)
    await OcrKeyMigration(batch_size=30).up(db)
    bucket = AsyncGridFSBucket(db, bucket_name="ocr")
    new_id = await bucket.upload_from_stream("65f000000000000000000001_json", b'{"blocks": []}')
    renamed = await db["ocr.files"].find({"filename": {"$regex": "^[0-9a-f]{24}_json$"}}).to_list()
    deleted, moved = renamed[0], renamed[1]
    await bucket.delete(deleted["_id"])
    await db["ocr.files"].update_one({"_id": moved["_id"]}, {"$set": {"filename": "archived.json"}})

    await OcrKeyMigration(batch_size=30).down(db)
    assert await db["ocr.files"].find_one({"_id": new_id}, {"filename": 1}) == {
        "_id": new_id,
        "filename": "65f000000000000000000001_json",
    }
    assert (await db["ocr.files"].find_one({"_id": moved["_id"]}) or {})["filename"] == "archived.json"
    assert await db["ocr.files"].find_one({"_id": deleted["_id"]}) is None
    # Everything else is back as it was.
    now = (await snapshot_all(db, ("ocr.files",)))["ocr.files"]
    expected = dict(original["ocr.files"])
    del expected[_key(deleted["_id"])]
    expected[_key(new_id)] = now[_key(new_id)]
    moved_now, moved_then = now.pop(_key(moved["_id"])), expected.pop(_key(moved["_id"]))
    assert {k: v for k, v in moved_now.items() if k != "filename"} == {
        k: v for k, v in moved_then.items() if k != "filename"
    }
    assert now == expected


def _key(oid: Any) -> bytes:
    """Return the snapshot key of a document whose ``_id`` is the ObjectId ``oid``."""
    return b"\x07" + bytes(oid.binary)
