"""The log's replay sends inserts as plain inserts (events after a consistent base, in order): cheaper than a
replacement by ``_id``; an insert whose ``_id`` is there after all is replayed as that replacement instead."""

from __future__ import annotations

from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from analytiq_data.backup.consistent.apply import apply_changes
from analytiq_data.backup.consistent.events import Change, interpret


def _insert(doc: dict[str, Any]) -> Change:
    event = {"operationType": "insert", "ns": {"db": "app", "coll": "c"}, "documentKey": {"_id": doc["_id"]}}
    change = interpret({**event, "fullDocument": doc}, "app", lambda _n: True)
    assert isinstance(change, Change) and change.inserted
    return change


async def test_fresh_inserts_are_plain_inserts_and_a_present_id_is_replaced(db: AsyncDatabase[Any]) -> None:
    await db.c.insert_one({"_id": 2, "v": "old"})
    changes = [_insert({"_id": 1, "v": "a"}), _insert({"_id": 2, "v": "new"}), _insert({"_id": 3, "v": "c"})]
    assert type(changes[0].requests(fresh=True)[0]).__name__ == "InsertOne"
    assert type(changes[0].requests()[0]).__name__ == "ReplaceOne"
    await apply_changes(db, "c", changes, fresh=True)
    assert [d async for d in db.c.find().sort("_id", 1)] == [
        {"_id": 1, "v": "a"},
        {"_id": 2, "v": "new"},  # replaced: the duplicate key fell back to the idempotent replacement
        {"_id": 3, "v": "c"},  # the ordered bulk write went on after it
    ]
