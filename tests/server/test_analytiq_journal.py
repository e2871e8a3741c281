"""The undo journal: records split under the document size limit, replay newest first, resumable."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import pytest
from pymongo import UpdateOne
from pymongo.asynchronous.database import AsyncDatabase

from analytiq_data.errors import MigrationError
from analytiq_data.migrations.analytiq.journal import JOURNAL_PREFIX, UndoJournal, still
from analytiq_data.progress import NULL_PROGRESS


async def test_big_batches_are_split_into_records_under_the_size_limit(db: AsyncDatabase[Any]) -> None:
    journal = UndoJournal(db, "Big")
    await journal.record([{"_id": i, "old": "x" * 1_000_000} for i in range(20)])
    records = await db[JOURNAL_PREFIX + "Big"].find({}, {"n": 1}).sort("_id", 1).to_list()
    assert len(records) == 3 and sum(r["n"] for r in records) == 20
    assert await journal.pending() == 20
    assert sorted(await journal.recorded_ids([3, 19, 25], before=_far_future())) == [3, 19]


async def test_an_entry_too_big_to_keep_is_refused_before_anything_is_written(db: AsyncDatabase[Any]) -> None:
    journal = UndoJournal(db, "Huge")
    with pytest.raises(MigrationError, match=r"document 1 is .* too big to keep"):
        await journal.record([{"_id": 0, "old": "ok"}, {"_id": 1, "old": "x" * 15_800_000}])
    assert await journal.pending() == 0


async def test_replay_applies_newest_records_first_and_drops_the_journal(db: AsyncDatabase[Any]) -> None:
    await db.items.insert_one({"_id": 1, "v": "after second up"})
    journal = UndoJournal(db, "Order")
    await journal.record([{"_id": 1, "old": "stale", "now": "after second up"}])  # an older record
    await journal.record([{"_id": 1, "old": "original", "now": "after second up"}])  # the newest

    def revert(entry: Mapping[str, Any]) -> UpdateOne:
        return UpdateOne({"_id": entry["_id"], "v": entry["now"]}, {"$set": {"v": entry["old"]}})

    result = await journal.replay(db.items, revert, progress=NULL_PROGRESS, task="t")
    assert await db.items.find_one({"_id": 1}) == {"_id": 1, "v": "original"}
    assert (result.entries, result.reverted, result.left_alone) == (2, 1, 1)
    assert JOURNAL_PREFIX + "Order" not in await db.list_collection_names()


def _far_future() -> datetime:
    return datetime(2100, 1, 1, tzinfo=UTC)


async def test_still_matches_exactly_what_eq_matches(db: AsyncDatabase[Any]) -> None:
    values: list[Any] = [
        {"a": 1, "b": [1, 2]},
        {"b": [1, 2], "a": 1},
        {"a": 1},
        [1, 2],
        1,
        1.0,
        "x",
        True,
        False,
        None,
        datetime(2024, 1, 1, tzinfo=UTC),
    ]
    await db.items.insert_many([{"_id": i, "f": v} for i, v in enumerate(values)] + [{"_id": 99}])
    for value in values:
        by_eq = {d["_id"] for d in await db.items.find({"f": {"$eq": value}}, {"_id": 1}).to_list()}
        by_still = {d["_id"] for d in await db.items.find({"f": still(value)}, {"_id": 1}).to_list()}
        assert by_still == by_eq, value
