"""A server destination reports a definition the server refuses as a difference, not a crash;
a snapshot read at T keeps its cursor in one session.

Both test servers are alike, so each refusal is provoked on the destination directly: an index
name already taken by another key, a view whose name a collection holds, and a
validator with ``$where`` (refused in validators by mongod, and unknown to SecantusDB).
"""

from __future__ import annotations

from typing import Any

from pymongo import AsyncMongoClient, monitoring

from analytiq_data.backup.compare import digest_collection
from analytiq_data.backup.consistent.clock import RAW, digest_at
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


async def test_a_snapshot_read_at_T_keeps_its_cursor_in_one_session(mongo_uri: str, db_name: str) -> None:
    """``digest_at`` continues its cursor in the session that opened it: mongod refuses a getMore from
    another session (SecantusDB does not check, so the test checks the lsid each command carried)."""
    listener = _Commands()
    client: AsyncMongoClient[Any] = AsyncMongoClient(mongo_uri, event_listeners=[listener])
    try:
        db = client[db_name]
        await db.c.insert_many([{"_id": i, "pad": "x" * (i % 7)} for i in range(250)])
        at = (await db.command("ping"))["operationTime"]
        side = Side("source", "test", db, ServerIdentity("replicaset"))
        listener.seen.clear()

        found = await digest_at(side, "c", at, batch_size=100)
        reads = [(name, lsid) for name, lsid in listener.seen if name in ("find", "getMore")]

        expected = await digest_collection(db.get_collection("c", codec_options=RAW), batch_size=100)
        assert found.count == 250 and found.matches(expected)
        assert [name for name, _ in reads] == ["find", "getMore", "getMore"]
        assert len({lsid for _, lsid in reads}) == 1, reads
    finally:
        await client.close()


class _Commands(monitoring.CommandListener):
    def __init__(self) -> None:
        self.seen: list[tuple[str, bytes]] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        lsid = event.command.get("lsid", {}).get("id")
        self.seen.append((event.command_name, bytes(lsid) if lsid is not None else b""))

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass
