"""Change events read as idempotent writes, and mongod resume tokens read as cluster times (no server)."""

from __future__ import annotations

from typing import Any

import pytest
from bson.timestamp import Timestamp
from pymongo import DeleteOne, ReplaceOne, UpdateOne

from analytiq_data.backup.consistent.clock import token_time
from analytiq_data.backup.consistent.events import Change, Definition, SourceChanged, interpret


def everything(name: str) -> bool:
    return not name.startswith("skip")


def event(op: str, coll: str = "users", **fields: Any) -> dict[str, Any]:
    return {"operationType": op, "ns": {"db": "app", "coll": coll}, "clusterTime": Timestamp(100, 2), **fields}


def test_inserts_and_replaces_upsert_the_events_document_and_deletes_go_by_id() -> None:
    insert = interpret(event("insert", fullDocument={"_id": 1, "a": 1}, documentKey={"_id": 1}), "app", everything)
    delete = interpret(event("delete", documentKey={"_id": 1}), "app", everything)

    assert isinstance(insert, Change) and isinstance(delete, Change)
    assert insert.requests() == [ReplaceOne({"_id": 1}, {"_id": 1, "a": 1}, upsert=True)]
    assert delete.requests() == [DeleteOne({"_id": 1})]


def test_an_update_replays_its_description_with_truncation_apart() -> None:
    desc = {
        "updatedFields": {"a.b": 2, "arr.1": 5},
        "removedFields": ["c"],
        "truncatedArrays": [{"field": "arr", "newSize": 2}],
    }
    change = interpret(event("update", documentKey={"_id": 7}, updateDescription=desc), "app", everything)

    assert isinstance(change, Change)
    assert change.requests() == [
        UpdateOne({"_id": 7}, {"$push": {"arr": {"$each": [], "$slice": 2}}}),
        UpdateOne({"_id": 7}, {"$set": {"a.b": 2, "arr.1": 5}, "$unset": {"c": ""}}),
    ]
    assert len(change.piecewise()) == 4  # one truncation, two sets, one unset


def test_events_of_other_collections_are_ignored_and_index_builds_replayed() -> None:
    assert interpret(event("insert", "skip_me", fullDocument={"_id": 1}), "app", everything) is None
    assert interpret(event("drop", "skip_me"), "app", everything) is None
    built = interpret(
        event("createIndexes", operationDescription={"indexes": [{"v": 2, "key": {"a": 1}, "name": "a_1"}]}),
        "app",
        everything,
    )
    assert isinstance(built, Definition)
    assert built.command["indexes"] == [{"key": {"a": 1}, "name": "a_1"}]


@pytest.mark.parametrize(
    ("ev", "said"),
    [
        (event("drop"), "collection 'users' was dropped"),
        (event("rename", to={"db": "app", "coll": "people"}), "collection 'users' was renamed to 'people'"),
        (event("rename", "skip_old", to={"db": "app", "coll": "users"}), "renamed to 'users'"),
        (event("dropDatabase"), "database 'app' was dropped"),
        (event("invalidate"), "the change stream was invalidated"),
    ],
)
def test_drops_and_renames_of_copied_collections_stop_the_copy(ev: dict[str, Any], said: str) -> None:
    with pytest.raises(SourceChanged) as raised:
        interpret(ev, "app", everything)
    assert said in raised.value.message and "at Timestamp(100, 2)" in raised.value.message


def test_a_mongod_resume_token_gives_its_cluster_time_and_others_none() -> None:
    mongod = {"_data": "8265F1A2B3000000042B022C0100296E5A1004"}
    assert token_time(mongod) == Timestamp(0x65F1A2B3, 4)
    assert token_time({"_data": "33000000107300030000001174000b"}) is None  # SecantusDB's own encoding
    assert token_time(None) is None
