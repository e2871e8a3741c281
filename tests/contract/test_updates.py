"""Update shapes the migrations rely on: pipeline updates, dotted $rename, $$NOW server-clock leases."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import OperationFailure, WriteError

from tests.servers import using_real_server

LEASE_MS = 30_000


async def test_pipeline_update_adds_fields_computed_from_the_document(db: AsyncDatabase[Any]) -> None:
    await db.runs.insert_many([{"_id": i, "llm_result": {"n": i}} for i in range(3)])
    result = await db.runs.update_many(
        {"updated_llm_result": {"$exists": False}},
        [{"$addFields": {"updated_llm_result": "$llm_result", "is_edited": False}}],
    )
    assert result.matched_count == 3
    assert result.modified_count == 3
    docs = await db.runs.find({}, sort=[("_id", 1)]).to_list()
    assert [d["updated_llm_result"] for d in docs] == [{"n": 0}, {"n": 1}, {"n": 2}]
    assert all(d["is_edited"] is False for d in docs)


async def test_add_fields_as_a_plain_update_document_is_rejected(db: AsyncDatabase[Any]) -> None:
    await db.users.insert_one({"_id": 1})
    with pytest.raises(WriteError) as info:
        await db.users.update_many({}, {"$addFields": {"new_field": "new_value"}})
    assert info.value.code == 9  # FailedToParse, as on mongod
    assert "Unknown modifier: $addFields" in str(info.value)
    assert await db.users.find_one({"_id": 1}) == {"_id": 1}


async def test_rename_moves_nested_fields_by_dotted_path(db: AsyncDatabase[Any]) -> None:
    await db.schemas.insert_one({"_id": 1, "a": {"b": 1, "c": 2}, "json_schema": {"json_schema": {"x": 1}}})
    await db.schemas.update_many({}, {"$rename": {"a.b": "a.d", "json_schema": "response_format"}})
    doc = await db.schemas.find_one({"_id": 1})
    assert doc == {"_id": 1, "a": {"c": 2, "d": 1}, "response_format": {"json_schema": {"x": 1}}}
    await db.schemas.update_many({}, {"$rename": {"a.c": "top"}})
    assert await db.schemas.find_one({"_id": 1}) == {
        "_id": 1,
        "a": {"d": 1},
        "response_format": {"json_schema": {"x": 1}},
        "top": 2,
    }


async def _set_leases(db: AsyncDatabase[Any]) -> None:
    """Write one expired and one live lease, both from the server's clock."""
    await db.leases.insert_many([{"_id": "expired"}, {"_id": "live"}])
    await db.leases.update_one({"_id": "expired"}, [{"$set": {"expires_at": {"$subtract": ["$$NOW", 1000]}}}])
    await db.leases.update_one({"_id": "live"}, [{"$set": {"expires_at": {"$add": ["$$NOW", LEASE_MS]}}}])


async def test_now_in_a_pipeline_update_writes_the_server_clock(db: AsyncDatabase[Any]) -> None:
    await db.leases.insert_one({"_id": "lock"})
    await db.leases.update_one(
        {"_id": "lock"}, [{"$set": {"locked_at": "$$NOW", "expires_at": {"$add": ["$$NOW", LEASE_MS]}}}]
    )
    doc = await db.leases.find_one({"_id": "lock"})
    assert doc is not None
    assert (doc["expires_at"] - doc["locked_at"]).total_seconds() == LEASE_MS / 1000
    server_time = (await db.client.admin.command("hello"))["localTime"].replace(tzinfo=dt.UTC)
    assert abs((server_time - doc["locked_at"]).total_seconds()) < 60  # the server's clock, not ours


async def test_expr_against_now_finds_expired_leases(db: AsyncDatabase[Any]) -> None:
    """On mongod: `$lt: ["$expires_at", "$$NOW"]` matches the expired lease. On SecantusDB: it matches NOTHING.

    SecantusDB binds $$NOW as a timezone-aware datetime and reads stored dates back naive; its
    comparison treats the two as equal, so `$lt`/`$gt` against $$NOW are false for every document
    (and `$lte`/`$gte` true). Converting $$NOW through `$toLong`/`$toDate` works on both servers
    (see the next test): lease queries should use that form.
    """
    await _set_leases(db)
    expired = [d["_id"] for d in await db.leases.find({"$expr": {"$lt": ["$expires_at", "$$NOW"]}}).to_list()]
    live = [d["_id"] for d in await db.leases.find({"$expr": {"$gt": ["$expires_at", "$$NOW"]}}).to_list()]
    if using_real_server():
        assert (expired, live) == (["expired"], ["live"])
    else:
        assert (expired, live) == ([], [])


async def test_subtracting_a_stored_date_from_now(db: AsyncDatabase[Any]) -> None:
    """On mongod: `$subtract: ["$$NOW", "$expires_at"]` is the age in ms. On SecantusDB: code 1 (InternalError)."""
    await _set_leases(db)
    age = {"$subtract": ["$$NOW", "$expires_at"]}
    if using_real_server():
        rows = await (await db.leases.aggregate([{"$project": {"age": age}}, {"$sort": {"_id": 1}}])).to_list()
        assert rows[0]["age"] >= 1000 and rows[1]["age"] < 0  # "expired" sorts before "live"
    else:
        with pytest.raises(OperationFailure) as info:
            await (await db.leases.aggregate([{"$project": {"age": age}}])).to_list()
        assert info.value.code == 1
    now = {"$toDate": {"$toLong": "$$NOW"}}
    rows = await (await db.leases.aggregate([{"$project": {"age": {"$subtract": [now, "$expires_at"]}}}])).to_list()
    assert sorted(r["_id"] for r in rows if r["age"] >= 1000) == ["expired"]


async def test_expr_against_now_as_a_date_value_finds_expired_leases(db: AsyncDatabase[Any]) -> None:
    await _set_leases(db)
    now = {"$toDate": {"$toLong": "$$NOW"}}  # the same instant as $$NOW; comparable on SecantusDB too
    expired = [d["_id"] for d in await db.leases.find({"$expr": {"$lt": ["$expires_at", now]}}).to_list()]
    live = [d["_id"] for d in await db.leases.find({"$expr": {"$gt": ["$expires_at", now]}}).to_list()]
    assert (expired, live) == (["expired"], ["live"])


async def test_lease_takeover_by_find_one_and_update_on_server_clock(db: AsyncDatabase[Any]) -> None:
    await _set_leases(db)
    now = {"$toDate": {"$toLong": "$$NOW"}}
    taken = await db.leases.find_one_and_update(
        {"_id": "expired", "$expr": {"$lt": ["$expires_at", now]}},
        [{"$set": {"holder": "me", "expires_at": {"$add": ["$$NOW", LEASE_MS]}}}],
    )
    refused = await db.leases.find_one_and_update(
        {"_id": "live", "$expr": {"$lt": ["$expires_at", now]}},
        [{"$set": {"holder": "me"}}],
    )
    assert taken is not None and taken["_id"] == "expired"
    assert refused is None
    assert (await db.leases.find_one({"_id": "expired"}) or {}).get("holder") == "me"
    assert "holder" not in (await db.leases.find_one({"_id": "live"}) or {})
