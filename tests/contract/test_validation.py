"""Validators: enforcement (code 121), bypassDocumentValidation, and collMod after loading."""

from __future__ import annotations

from typing import Any

import pytest
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, WriteError

from tests.servers import using_real_server

INT_X = {"x": {"$type": "int"}}


async def test_insert_that_fails_the_validator_is_refused_with_code_121(db: AsyncDatabase[Any]) -> None:
    await db.create_collection("strict", validator=INT_X)
    with pytest.raises(WriteError) as info:
        await db.strict.insert_one({"x": "not an int"})
    assert info.value.code == 121
    assert await db.strict.count_documents({}) == 0


async def test_ordered_insert_many_stops_at_the_invalid_document(db: AsyncDatabase[Any]) -> None:
    """On mongod: the documents before the invalid one are inserted (nInserted 1). On SecantusDB: none
    of the batch is (nInserted 0), though a duplicate key mid-batch does keep the ones before it."""
    await db.create_collection("strict", validator=INT_X)
    with pytest.raises(BulkWriteError) as bulk:
        await db.strict.insert_many([{"x": 1}, {"x": "bad"}, {"x": 3}])
    assert [(e["index"], e["code"]) for e in bulk.value.details["writeErrors"]] == [(1, 121)]
    expected = 1 if using_real_server() else 0
    assert bulk.value.details["nInserted"] == expected
    assert await db.strict.count_documents({}) == expected


async def test_unordered_insert_many_keeps_every_valid_document(db: AsyncDatabase[Any]) -> None:
    await db.create_collection("strict", validator=INT_X)
    with pytest.raises(BulkWriteError) as bulk:
        await db.strict.insert_many([{"x": 1}, {"x": "bad"}, {"x": 3}], ordered=False)
    assert [(e["index"], e["code"]) for e in bulk.value.details["writeErrors"]] == [(1, 121)]
    assert bulk.value.details["nInserted"] == 2
    assert sorted(d["x"] for d in await db.strict.find({}).to_list()) == [1, 3]


async def test_ordered_insert_many_stops_at_a_duplicate_key(db: AsyncDatabase[Any]) -> None:
    await db.docs.insert_one({"_id": 2})
    with pytest.raises(BulkWriteError) as bulk:
        await db.docs.insert_many([{"_id": 1}, {"_id": 2}, {"_id": 3}])
    errors = bulk.value.details["writeErrors"]
    assert [(e["index"], e["code"], e["keyValue"]) for e in errors] == [(1, 11000, {"_id": 2})]
    assert bulk.value.details["nInserted"] == 1
    assert sorted(d["_id"] for d in await db.docs.find({}).to_list()) == [1, 2]


async def test_bypass_document_validation_lets_the_document_in(db: AsyncDatabase[Any]) -> None:
    await db.create_collection("strict", validator=INT_X)
    await db.strict.insert_one({"_id": 1, "x": "one"}, bypass_document_validation=True)
    await db.strict.insert_many([{"_id": 2, "x": "two"}], bypass_document_validation=True)
    await db.strict.insert_one({"_id": 3, "x": 3})
    with pytest.raises(WriteError) as info:
        await db.strict.update_one({"_id": 3}, {"$set": {"x": "three"}})
    assert info.value.code == 121
    await db.strict.update_one({"_id": 3}, {"$set": {"x": "three"}}, bypass_document_validation=True)
    assert [d["x"] for d in await db.strict.find({}, sort=[("_id", 1)]).to_list()] == ["one", "two", "three"]


async def test_coll_mod_adds_a_validator_after_loading(db: AsyncDatabase[Any]) -> None:
    """A backup can load documents first, then attach the validator: existing documents are not checked."""
    await db.loaded.insert_many([{"x": 1}, {"x": "legacy"}])
    reply = await db.command("collMod", "loaded", validator=INT_X, validationLevel="strict", validationAction="error")
    assert reply["ok"] == 1
    infos = await (await db.list_collections(filter={"name": "loaded"})).to_list()
    assert infos[0]["options"] == {"validator": INT_X, "validationLevel": "strict", "validationAction": "error"}
    assert await db.loaded.count_documents({}) == 2
    with pytest.raises(WriteError) as info:
        await db.loaded.insert_one({"x": "new"})
    assert info.value.code == 121


async def test_validation_action_warn_lets_invalid_documents_in(db: AsyncDatabase[Any]) -> None:
    await db.create_collection("lenient", validator=INT_X, validationAction="warn")
    await db.lenient.insert_one({"x": "not an int"})
    assert await db.lenient.count_documents({}) == 1
