"""The sample database generator: deterministic, realistic, with the edge cases the migrations must handle."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from bson import Decimal128, Int64
from gridfs import AsyncGridFSBucket
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from analytiq_data.errors import ConfigurationError
from analytiq_data.migrations.sample import generate_sample
from tests.server.test_analytiq_support import SAMPLE_COLLECTIONS, snapshot_all


async def test_same_seed_same_database_other_seed_other_database(client: AsyncMongoClient[Any], db_name: str) -> None:
    one, two, other = client[f"{db_name}_a"], client[f"{db_name}_b"], client[f"{db_name}_c"]
    await generate_sample(one, docs=60, seed=7)
    await generate_sample(two, docs=60, seed=7, batch_size=13)  # batching does not change the data
    await generate_sample(other, docs=60, seed=8)
    assert await snapshot_all(one) == await snapshot_all(two)
    assert (await snapshot_all(one))["llm.runs"] != (await snapshot_all(other))["llm.runs"]


async def test_counts_and_collections(db: AsyncDatabase[Any]) -> None:
    summary = await generate_sample(db, docs=400, seed=1)
    assert summary.counts["documents"] == 400
    assert summary.counts["schemas"] == 100
    assert summary.counts["prompts"] == 40
    assert summary.counts["ocr.files"] == summary.counts["ocr.chunks"] > 380
    assert 400 < summary.counts["llm.runs"] < 500
    assert sorted(await db.list_collection_names()) == sorted(SAMPLE_COLLECTIONS)
    for name, n in summary.counts.items():
        assert await db[name].count_documents({}) == n
    assert await db["migrations"].find_one() is None  # version 0: nothing recorded


async def test_ocr_files_are_real_gridfs_files(db: AsyncDatabase[Any]) -> None:
    await generate_sample(db, docs=30, seed=2)
    bucket = AsyncGridFSBucket(db, bucket_name="ocr")
    file = await db["ocr.files"].find_one({"filename": {"$regex": "^[0-9a-f]{24}_list$"}})
    assert file is not None
    stream = await bucket.open_download_stream_by_name(file["filename"])
    data = await stream.read()
    assert len(data) == file["length"] > 0
    assert data.startswith(b'{"document_id": "' + file["filename"][:24].encode())
    index_keys = [ix["key"] for ix in (await db["ocr.chunks"].index_information()).values()]
    assert [("files_id", 1), ("n", 1)] in index_keys


async def test_edge_cases_are_present(db: AsyncDatabase[Any]) -> None:
    await generate_sample(db, docs=1000, seed=0)
    files = await db["ocr.files"].find({}, {"filename": 1}).to_list()
    names = Counter(f["filename"] for f in files)
    assert {"doc_listing_list", "my_list_of_lists_list", "doc_listing", "checklist"} <= set(names)
    assert any(n > 1 for name, n in names.items() if name.endswith("_list")), "several revisions of one _list"
    bases_list = {name[:-5] for name in names if name.endswith("_list")}
    bases_json = {name[:-5] for name in names if name.endswith("_json")}
    assert bases_list & bases_json, "a _json next to a _list"
    assert bases_json - bases_list, "documents OCRed by newer code only"

    runs = db["llm.runs"]
    assert await runs.count_documents({"llm_result": {"$exists": False}}) > 0
    assert await runs.count_documents({"is_edited": True, "updated_llm_result": {"$exists": True}}) > 0
    assert await runs.count_documents({"is_verified": {"$exists": True}, "is_edited": {"$exists": False}}) > 0
    result_types = {
        type(v) for run in await runs.find({}, {"llm_result": 1}).to_list() for v in run.get("llm_result", {}).values()
    }
    assert {str, int, Int64, float, bool, type(None), list, dict} <= result_types
    assert any(
        isinstance(v.get("amount"), Decimal128)
        for run in await runs.find().to_list()
        for v in run.get("llm_result", {}).values()
        if isinstance(v, dict)
    )

    schemas = db["schemas"]
    assert await schemas.count_documents({"fields": []}) > 0
    assert await schemas.count_documents({"json_schema": {"$exists": True}}) > 0
    assert await schemas.count_documents({"response_format": {"$exists": True}}) > 0
    assert await schemas.count_documents({"created_by": {"$exists": False}}) > 0
    types = {f["type"] for s in await schemas.find({"fields": {"$exists": True}}).to_list() for f in s["fields"]}
    assert types == {"str", "int", "float", "bool", "datetime"}
    field_names = {f["name"] for s in await schemas.find({"fields": {"$exists": True}}).to_list() for f in s["fields"]}
    assert "price_list" in field_names and sum("_" in n for n in field_names) > len(field_names) // 2


async def test_refuses_a_database_with_data_unless_told_to_drop(db: AsyncDatabase[Any]) -> None:
    await db["users"].insert_one({"name": "keep me"})
    with pytest.raises(ConfigurationError, match=r"is not empty \(users\)") as info:
        await generate_sample(db, docs=10)
    assert "--drop" in (info.value.hint or "")
    assert await db["users"].count_documents({}) == 1
    assert await db["documents"].count_documents({}) == 0
    await generate_sample(db, docs=10, drop=True)
    assert "users" not in await db.list_collection_names()
    assert await db["documents"].count_documents({}) == 10


async def test_rejects_a_nonsense_size(db: AsyncDatabase[Any]) -> None:
    with pytest.raises(ConfigurationError, match="at least 1"):
        await generate_sample(db, docs=0)
