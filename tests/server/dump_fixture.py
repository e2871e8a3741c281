"""A small database holding every kind of thing a dump must keep, and a way to compare two databases."""

from __future__ import annotations

import datetime
from typing import Any

from gridfs import AsyncGridFSBucket
from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.database import AsyncDatabase

from analytiq_data.migrations.engine.lock import LOCK_COLLECTION
from tests.server.test_rehearse_support import raw_state

#: Collections (and the view) the fixture holds.
NAMES = {"users", "orders", "events", "log", "names", "adults", "docs.files", "docs.chunks", "we/ird name%", "empty"}


async def build_dump_fixture(db: AsyncDatabase[Any], users: int = 2000) -> None:
    """Write collections with unique/compound/partial/TTL indexes, a validator, a capped collection,
    a collation, a view, a GridFS bucket, an awkward name and an empty collection (a few thousand documents)."""
    soon = datetime.datetime.now(datetime.UTC).replace(microsecond=0) + datetime.timedelta(days=1)
    await db.users.insert_many(
        [{"_id": i, "email": f"u{i}@example.com", "age": i % 90, "tags": ["a", "b"][: i % 3]} for i in range(users)]
    )
    await db.users.create_index("email", unique=True)
    await db.users.create_index([("age", ASCENDING), ("email", DESCENDING)], name="age_email")
    await db.users.create_index("tags", partialFilterExpression={"age": {"$gt": 30}}, name="tags_partial")
    await db.create_collection("orders", validator={"$jsonSchema": {"required": ["ref"]}}, validationLevel="moderate")
    await db.orders.insert_many([{"ref": f"r{i}", "total": i * 1.25, "lines": [{"sku": i}]} for i in range(500)])
    await db.events.insert_many([{"at": soon, "kind": "login", "n": i} for i in range(300)])
    await db.events.create_index("at", expireAfterSeconds=10 * 365 * 86400)  # nothing expires during a test
    await db.create_collection("log", capped=True, size=1 << 20, max=1000)
    await db.log.insert_many([{"line": i} for i in range(200)])
    await db.create_collection("names", collation={"locale": "fr", "strength": 2})
    await db.names.insert_many([{"name": n} for n in ("élan", "Elan", "zèbre", "Abc")])
    await db.create_collection("adults", viewOn="users", pipeline=[{"$match": {"age": {"$gte": 18}}}])
    bucket = AsyncGridFSBucket(db, bucket_name="docs")
    await bucket.upload_from_stream("scan.pdf", b"%PDF" + bytes(range(256)) * 1200)
    await db["we/ird name%"].insert_one({"_id": "odd"})
    await db.create_collection("empty")


async def state(db: AsyncDatabase[Any]) -> dict[str, dict[str, Any]]:
    """Return everything ``db`` holds (documents as raw bytes, indexes, options), comparable across databases."""
    return await raw_state(db, identity=False, skip=(LOCK_COLLECTION,))
