"""Events as mongod sends them, replayed on the real server: field names with dots, numeric keys, ``$`` prefixes.

The events are documented samples of mongod's format (``updateDescription.disambiguatedPaths``,
6.1+ with ``showExpandedEvents``; see docs/explanation/change-events.md), handed to ``interpret`` and
``apply_all`` and applied to documents on the test server. SecantusDB itself does not disambiguate a
top-level field name holding a dot (it sends ``disambiguatedPaths: {}``), so those events are written
here as mongod writes them; SecantusDB accepts ``$set`` of a ``$``-prefixed name, which mongod refuses,
so what is checked is the resulting document, which must be the same on both.
"""

from __future__ import annotations

from typing import Any

import pytest
from bson.raw_bson import RawBSONDocument
from bson.timestamp import Timestamp
from pymongo import MongoClient
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.database import Database

from analytiq_data.backup import BackupOptions, backup
from analytiq_data.backup.consistent.apply import apply_all
from analytiq_data.backup.consistent.events import interpret
from tests.server.test_backup_consistent import sync


def update(desc: dict[str, Any], key: Any = 1) -> dict[str, Any]:
    return {
        "operationType": "update",
        "ns": {"db": "app", "coll": "docs"},
        "clusterTime": Timestamp(100, 1),
        "documentKey": {"_id": key},
        "updateDescription": {"removedFields": [], "truncatedArrays": [], **desc},
    }


def insert(doc: dict[str, Any]) -> dict[str, Any]:
    return {
        "operationType": "insert",
        "ns": {"db": "app", "coll": "docs"},
        "clusterTime": Timestamp(100, 1),
        "documentKey": {"_id": doc["_id"]},
        "fullDocument": doc,
    }


async def replay(db: AsyncDatabase[Any], *events: dict[str, Any]) -> dict[str, Any] | None:
    items = [interpret(e, "app", lambda _: True) for e in events]
    await apply_all(db, [i for i in items if i is not None])
    found: dict[str, Any] | None = await db.docs.find_one({"_id": events[-1]["documentKey"]["_id"]})
    return found


CASES: list[tuple[str, dict[str, Any], dict[str, Any], dict[str, Any]]] = [
    (
        "a top-level field name holding a dot",
        {"_id": 1, "price.usd": 45, "price": {"usd": 1}},
        {"updatedFields": {"price.usd": 46}, "disambiguatedPaths": {"price.usd": ["price.usd"]}},
        {"_id": 1, "price.usd": 46, "price": {"usd": 1}},
    ),
    (
        "a dotted name inside a document",
        {"_id": 1, "a": {"b.c": 1, "b": {"c": 2}}},
        {"updatedFields": {"a.b.c": 5}, "disambiguatedPaths": {"a.b.c": ["a", "b.c"]}},
        {"_id": 1, "a": {"b.c": 5, "b": {"c": 2}}},
    ),
    (
        "removing a field name holding a dot",
        {"_id": 1, "x.y": 1, "x": {"y": 2}},
        {"removedFields": ["x.y"], "disambiguatedPaths": {"x.y": ["x.y"]}},
        {"_id": 1, "x": {"y": 2}},
    ),
    (
        "a $-prefixed top-level name (mongod refuses $set of it)",
        {"_id": 1, "$price": 1, "n": 1},
        {"updatedFields": {"$price": 2, "n": 2}},
        {"_id": 1, "$price": 2, "n": 2},
    ),
    (
        "removing a $-prefixed name",
        {"_id": 1, "$gone": 1, "n": 1},
        {"removedFields": ["$gone"]},
        {"_id": 1, "n": 1},
    ),
    (
        "a value holding $-prefixed and dotted names",
        {"_id": 1, "v": 0},
        {"updatedFields": {"v": {"$in": 1, "a.b": {"$x": 2}}}},
        {"_id": 1, "v": {"$in": 1, "a.b": {"$x": 2}}},
    ),
    (
        "an array position under a dotted name",
        {"_id": 1, "a.b": [{"1": 1}, {"1": 1}]},
        {"updatedFields": {"a.b.1.1": 9}, "disambiguatedPaths": {"a.b.1.1": ["a.b", 1, "1"]}},
        {"_id": 1, "a.b": [{"1": 1}, {"1": 9}]},
    ),
    (
        "a numeric field name in a document (disambiguated as a name)",
        {"_id": 1, "a": {"1": 1}},
        {"updatedFields": {"a.1": 2}, "disambiguatedPaths": {"a.1": ["a", "1"]}},
        {"_id": 1, "a": {"1": 2}},
    ),
    (
        "an array truncated under a dotted name",
        {"_id": 1, "l.m": [1, 2, 3, 4]},
        {"truncatedArrays": [{"field": "l.m", "newSize": 2}], "disambiguatedPaths": {"l.m": ["l.m"]}},
        {"_id": 1, "l.m": [1, 2]},
    ),
    (
        "an array position set past the end (padded with nulls, as $set pads)",
        {"_id": 1, "$arr": [1]},
        {"updatedFields": {"$arr.3": 4}, "disambiguatedPaths": {"$arr.3": ["$arr", 3]}},
        {"_id": 1, "$arr": [1, None, None, 4]},
    ),
]


@pytest.mark.parametrize(("start", "desc", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
async def test_an_update_is_replayed_on_the_field_it_names(
    db: AsyncDatabase[Any], start: dict[str, Any], desc: dict[str, Any], expected: dict[str, Any]
) -> None:
    await db.docs.insert_one(start)

    assert await replay(db, update(desc)) == expected
    assert await replay(db, update(desc)) == expected, "replaying it again changes nothing"


async def test_an_insert_with_a_dollar_field_replayed_over_the_copy_of_it(db: AsyncDatabase[Any]) -> None:
    """The copy read the document after its insert: the replay replaces it (a replacement cannot hold ``$price``)."""
    doc = {"_id": 3, "$price": 50, "n": {"$inner": 2, "a.b": 1}}
    await db.docs.insert_one(doc)

    assert await replay(db, insert(doc)) == doc
    await db.docs.delete_one({"_id": 3})
    assert await replay(db, insert(doc)) == doc, "and inserts it when it is not there"


class WritesOnFirstNote:
    """A progress sink that writes to the source when the copy announces its plan: after T's start, before reading."""

    def __init__(self, uri: str, db: str) -> None:
        self.uri, self.db, self.wrote = uri, db, False

    def start(self, task: str, total: int | None = None, unit: str = "docs", **_: Any) -> None:
        pass

    def advance(self, task: str, amount: int = 1, nbytes: int = 0) -> None:
        pass

    def finish(self, task: str, message: str | None = None, **_: Any) -> None:
        pass

    def note(self, message: str) -> None:
        if not self.wrote:
            self.wrote = True
            with sync(self.uri) as client:
                writes(client[self.db])


def writes(db: Database[Any]) -> None:
    """Writes SecantusDB turns into the events at stake: $-prefixed names, numeric keys, one transaction."""
    db.docs.insert_one({"_id": 10, "$price": 50, "n": {"$inner": 2, "a.b": 1}})
    db.docs.update_one(
        {"_id": 1}, [{"$replaceWith": {"$setField": {"field": {"$literal": "$d"}, "input": "$$ROOT", "value": 6}}}]
    )
    db.docs.update_one({"_id": 2}, {"$set": {"a.1": 2, "b.0.1": 3}})
    with db.client.start_session() as session, session.start_transaction():
        db.docs.insert_one({"_id": 11, "t": 1}, session=session)
        db.docs.update_one({"_id": 1}, {"$set": {"t": 1}}, session=session)
        db.other.delete_one({"_id": 1}, session=session)


async def test_a_consistent_copy_replays_the_events_secantusdb_produces(
    mongo_uri: str, mongo_uri_2: str, db_name: str, db_name_2: str
) -> None:
    with sync(mongo_uri) as client:
        client[db_name].docs.insert_many([{"_id": 1, "v": 1}, {"_id": 2, "a": {"1": 1}, "b": [{"1": 1}]}])
        client[db_name].other.insert_many([{"_id": 1}, {"_id": 2}])
    options = BackupOptions(src_uri=mongo_uri, dest_uri=mongo_uri_2, src_db=db_name, dest_db=db_name_2, consistent=True)

    result = await backup(options, WritesOnFirstNote(mongo_uri, db_name))

    assert result.verified is True and result.point_in_time is not None and result.point_in_time.events >= 6
    with (
        MongoClient(mongo_uri, document_class=RawBSONDocument) as src,
        MongoClient(mongo_uri_2, document_class=RawBSONDocument) as dst,
    ):
        for name in ("docs", "other"):
            source = sorted(bytes(d.raw) for d in src[db_name][name].find())
            copy = sorted(bytes(d.raw) for d in dst[db_name_2][name].find())
            assert copy == source, name
