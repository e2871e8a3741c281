"""The batch helper on a real server: order, no re-reads, checkpoints, resume, journal, errors, commands."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import pytest
from bson import Int64, ObjectId
from pymongo import AsyncMongoClient, UpdateOne, monitoring
from pymongo.asynchronous.database import AsyncDatabase

from analytiq_data.errors import MigrationError
from analytiq_data.migrations.batch import (
    CHECKPOINTS,
    Change,
    batch_update,
    clear_checkpoint,
    read_checkpoint,
    use_progress,
)

MIXED_IDS: list[Any] = [
    None,
    -3,
    Int64(2),
    7.5,
    "a",
    "b",
    {"k": 1},
    b"x",
    ObjectId("650000000000000000000001"),
    ObjectId("650000000000000000000002"),
    False,
    True,
    datetime(2021, 1, 1, tzinfo=UTC),
]


class Recorder:
    """A Progress that remembers what it was told."""

    def __init__(self) -> None:
        self.started: list[tuple[str, int | None]] = []
        self.advanced = 0
        self.finished: list[str | None] = []

    def start(self, task: str, total: int | None = None, unit: str = "docs", **event: object) -> None:
        self.started.append((task, total))

    def advance(self, task: str, amount: int = 1, nbytes: int = 0) -> None:
        self.advanced += amount

    def finish(self, task: str, message: str | None = None, **event: object) -> None:
        self.finished.append(message)

    def note(self, message: str) -> None:
        return None


class ListJournal:
    """A Journal keeping records in memory, noting how many documents were already changed at each call."""

    def __init__(self, db: AsyncDatabase[Any]) -> None:
        self.db = db
        self.records: list[list[Mapping[str, Any]]] = []
        self.changed_before: list[int] = []

    async def record(self, entries: Sequence[Mapping[str, Any]]) -> None:
        self.changed_before.append(await self.db.items.count_documents({"done": True}))
        self.records.append(list(entries))


async def test_walks_every_document_once_in_id_order_across_bson_types(db: AsyncDatabase[Any]) -> None:
    await db.items.insert_many([{"_id": i, "n": 0} for i in reversed(MIXED_IDS)])
    seen: list[Any] = []

    def visit(doc: dict[str, Any]) -> dict[str, Any]:
        seen.append(doc["_id"])
        return {"$inc": {"n": 1}}

    result = await batch_update(db.items, visit, job="mixed", batch_size=2)
    expected = [d["_id"] for d in await db.items.find({}, {"_id": 1}).sort("_id", 1).to_list()]
    assert seen == expected and len(seen) == len(MIXED_IDS)
    assert result.seen == result.modified == len(MIXED_IDS)
    assert result.batches == 7
    assert await db.items.count_documents({"n": 1}) == len(MIXED_IDS)


async def test_rewritten_documents_are_not_seen_again(db: AsyncDatabase[Any]) -> None:
    await db.items.insert_many([{"_id": i, "n": 0} for i in range(500)])
    calls = Counter[int]()

    def grow(doc: dict[str, Any]) -> dict[str, Any]:
        calls[doc["_id"]] += 1  # the document grows and still matches the filter
        return {"$inc": {"n": 1}, "$set": {"padding": "x" * 2000}}

    await batch_update(db.items, grow, job="grow", filter={"n": {"$gte": 0}}, batch_size=64)
    assert set(calls.values()) == {1} and len(calls) == 500
    assert await db.items.count_documents({"n": 1}) == 500


async def test_filter_projection_and_no_change(db: AsyncDatabase[Any]) -> None:
    await db.items.insert_many([{"_id": i, "kind": "a" if i % 3 else "b", "big": "y" * 100} for i in range(60)])
    fields: set[str] = set()

    def mark(doc: dict[str, Any]) -> dict[str, Any] | None:
        fields.update(doc)
        return None if doc["_id"] % 2 else {"$set": {"marked": True}}

    result = await batch_update(db.items, mark, job="f", filter={"kind": "a"}, projection={"kind": 1}, batch_size=7)
    assert fields == {"_id", "kind"}
    assert result.seen == 40 and result.changed == result.modified == 20
    assert await db.items.count_documents({"marked": True}) == 20
    assert await db.items.count_documents({"marked": True, "kind": "b"}) == 0


async def test_checkpoint_after_each_batch_and_cleared_at_the_end(db: AsyncDatabase[Any]) -> None:
    await db.items.insert_many([{"_id": i} for i in range(10)])
    seen_checkpoints: list[Any] = []

    async def look(docs: Sequence[dict[str, Any]]) -> None:
        checkpoint = await read_checkpoint(db, "cp")
        seen_checkpoints.append(checkpoint and (checkpoint["last_id"], checkpoint["seen"]))

    await batch_update(db.items, lambda d: {"$set": {"x": 1}}, job="cp", batch_size=4, prepare=look)
    assert seen_checkpoints == [None, (3, 4), (7, 8)]
    assert await read_checkpoint(db, "cp") is None


async def test_a_failed_run_resumes_after_its_last_committed_batch(db: AsyncDatabase[Any]) -> None:
    await db.items.insert_many([{"_id": i, "n": 0} for i in range(25)])

    def fail_at_12(doc: dict[str, Any]) -> dict[str, Any]:
        if doc["_id"] == 12:
            raise RuntimeError("bad document")
        return {"$inc": {"n": 1}}

    with pytest.raises(RuntimeError, match="bad document"):
        await batch_update(db.items, fail_at_12, job="resume", batch_size=5)
    checkpoint = await read_checkpoint(db, "resume")
    assert checkpoint is not None and checkpoint["last_id"] == 9 and checkpoint["namespace"].endswith(".items")
    assert await db.items.count_documents({"n": 1}) == 10  # batches 1-2 written, batch 3 not

    result = await batch_update(db.items, lambda d: {"$inc": {"n": 1}}, job="resume", batch_size=5)
    assert result.resumed and result.resumed_from == 9 and result.seen == 15
    assert await db.items.count_documents({"n": 1}) == 25  # each document changed exactly once
    assert await read_checkpoint(db, "resume") is None


async def test_resume_crosses_type_brackets(db: AsyncDatabase[Any]) -> None:
    await db.items.insert_many([{"_id": i} for i in MIXED_IDS])
    await db[CHECKPOINTS].insert_one({"_id": "types", "last_id": "a", "seen": 5, "changed": 5})
    seen: list[Any] = []
    await batch_update(db.items, lambda d: seen.append(d["_id"]), job="types", batch_size=3)
    assert seen == MIXED_IDS[MIXED_IDS.index("a") + 1 :]


async def test_clear_checkpoint_restarts_from_the_beginning(db: AsyncDatabase[Any]) -> None:
    await db.items.insert_many([{"_id": i} for i in range(5)])
    await db[CHECKPOINTS].insert_one({"_id": "again", "last_id": 3})
    assert await clear_checkpoint(db, "again") is True
    assert await clear_checkpoint(db, "again") is False
    result = await batch_update(db.items, lambda d: None, job="again")
    assert not result.resumed and result.seen == 5


async def test_changes_are_journaled_before_they_are_written(db: AsyncDatabase[Any]) -> None:
    await db.items.insert_many([{"_id": i, "v": i * 10} for i in range(9)])
    journal = ListJournal(db)

    def change(doc: dict[str, Any]) -> Change | None:
        if doc["_id"] == 4:
            return None
        return Change({"$set": {"v": -1, "done": True}}, {"v": doc["v"]})

    result = await batch_update(db.items, change, job="j", batch_size=3, journal=journal)
    assert journal.changed_before == [0, 3, 5]  # each record arrives before its batch is written
    assert [[e["_id"] for e in r] for r in journal.records] == [[0, 1, 2], [3, 5], [6, 7, 8]]
    assert journal.records[1] == [{"_id": 3, "v": 30}, {"_id": 5, "v": 50}]
    assert result.journaled == 8

    with pytest.raises(TypeError, match="no journal"):
        await batch_update(db.items, change, job="j2")


async def test_write_models_pipelines_and_unmatched_updates(db: AsyncDatabase[Any]) -> None:
    await db.items.insert_many([{"_id": i, "a": i} for i in range(6)])

    def mixed(doc: dict[str, Any]) -> Any:
        if doc["_id"] < 2:
            return [{"$set": {"b": {"$multiply": ["$a", 2]}}}]
        if doc["_id"] < 4:
            return UpdateOne({"_id": doc["_id"], "a": -1}, {"$set": {"b": 0}})  # changed meanwhile: no match
        return UpdateOne({"_id": doc["_id"]}, {"$set": {"b": "model"}})

    result = await batch_update(db.items, mixed, job="m", batch_size=4)
    assert result.unmatched == 2 and result.modified == 4
    assert [d.get("b") for d in await db.items.find().sort("_id", 1).to_list()] == [0, 2, None, None, "model", "model"]


async def test_a_failing_write_is_one_clear_migration_error(db: AsyncDatabase[Any]) -> None:
    await db.items.insert_many([{"_id": i} for i in range(10)])
    await db.items.create_index("u", unique=True, sparse=True)
    with pytest.raises(MigrationError) as info:
        await batch_update(db.items, lambda d: {"$set": {"u": 1}}, job="dup", batch_size=4)
    line = info.value.user_line()
    assert f"writing a batch to {db.name}.items failed" in line and "duplicate key" in line.lower()
    assert "resumes after its last committed batch" in line
    assert await read_checkpoint(db, "dup") is None  # nothing committed: the first batch failed


async def test_progress_reports_total_done_and_end(db: AsyncDatabase[Any]) -> None:
    await db.items.insert_many([{"_id": i, "k": i % 2} for i in range(30)])
    recorder = Recorder()
    with use_progress(recorder):
        await batch_update(db.items, lambda d: None, job="p", filter={"k": 1}, batch_size=4)
    assert recorder.started == [("p (items)", 15)]
    assert recorder.advanced == 15
    assert recorder.finished == ["15 read, 0 changed"]
    explicit = Recorder()
    await batch_update(db.items, lambda d: None, job="p2", progress=explicit, count=False)
    assert explicit.started == [("p2 (items)", None)] and explicit.advanced == 30


class Commands(monitoring.CommandListener):
    def __init__(self) -> None:
        self.seen: list[tuple[str, str, Any]] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        name = event.command_name
        target = event.command.get("collection") if name == "getMore" else event.command.get(name)
        self.seen.append((name, str(target), event.command.get("batchSize")))

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        return None

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        return None


async def test_commands_per_batch_one_read_one_write_one_checkpoint(mongo_uri: str, db_name: str) -> None:
    listener = Commands()
    client: AsyncMongoClient[Any] = AsyncMongoClient(mongo_uri, event_listeners=[listener])
    try:
        db = client[db_name]
        await db.items.insert_many([{"_id": i} for i in range(1000)])
        listener.seen.clear()
        await batch_update(db.items, lambda d: {"$set": {"x": 1}}, job="count", batch_size=300)
        walk = list(listener.seen)
    finally:
        await client.close()
    kinds = Counter((name, target) for name, target, _ in walk)
    assert kinds == {
        ("find", CHECKPOINTS): 1,  # read the checkpoint
        ("aggregate", "items"): 1,  # count for progress
        ("find", "items"): 1,
        ("getMore", "items"): 3,  # the cursor's next batches (300, 300, 100): one batch in memory at a time
        ("update", "items"): 4,  # one bulk write per batch
        ("update", CHECKPOINTS): 3,  # a checkpoint after each batch but the last...
        ("delete", CHECKPOINTS): 1,  # ...which clears it
    }
    assert {size for name, _, size in walk if name in ("find", "getMore") and size} == {300}
