"""A server destination reports a definition the server refuses as a difference, not a crash.

Both test servers are alike, so each refusal is provoked on the destination directly: an index
name already taken by another key, a view whose name a collection holds, and a
validator with ``$where`` (refused in validators by mongod, and unknown to SecantusDB).
"""

from __future__ import annotations

from typing import Any

from pymongo import AsyncMongoClient

from analytiq_data.backup.destination import ServerDestination
from analytiq_data.backup.endpoints import Side
from analytiq_data.backup.identity import ServerIdentity
from analytiq_data.backup.plan import Intent, Kind


async def test_refused_definitions_come_back_as_differences(mongo_uri: str, db_name: str) -> None:
    client: AsyncMongoClient[Any] = AsyncMongoClient(mongo_uri)
    try:
        db = client[db_name]
        dest = ServerDestination(Side("destination", "test", db, ServerIdentity("replicaset")))
        await db.items.insert_one({"a": 1, "b": 1})
        await db.items.create_index("a", name="by_key")

        items = Intent("items", Kind.COLLECTION)
        taken = [{"key": {"b": 1}, "name": "by_key"}, {"key": {"b": -1}, "name": "b_desc"}]
        differences = await dest.create_indexes(items, taken)
        assert len(differences) == 1 and differences[0].startswith("index 'by_key' could not be built: ")
        assert "b_desc" in {i["name"] async for i in await db.items.list_indexes()}  # the others are built

        view = Intent("items", Kind.VIEW, {"viewOn": "other", "pipeline": []})  # the name is taken
        differences = await dest.create_collection(view)
        assert len(differences) == 1 and differences[0].startswith("view could not be created: ")
        assert await db.items.count_documents({}) == 1  # the collection is untouched

        validated = Intent("items", Kind.COLLECTION, {"validator": {"$where": "this.a > 0"}})
        differences = await dest.finish(validated)
        assert len(differences) == 1 and differences[0].startswith("options ['validator'] could not be applied: ")

        assert await dest.finish(items) == []  # nothing deferred: nothing to refuse
    finally:
        await client.close()
