"""The data the original-app list migrates: the Analytiq application's collections before version 1.

``seed(db, scale)`` writes, through PyMongo's async API, what the app had before its first
migration: ``llm_runs`` (renamed ``llm.runs`` by version 4), ``docs``, ``schemas``, ``prompts``,
``tags``, ``users``, ``organizations``, ``access_tokens`` (with the legacy ``token_hash_1``
index), ``tmp_exports`` and the GridFS bucket ``ocr`` with ``<document_id>_list`` files.
``scale`` multiplies the documents the per-document steps walk (the benchmark uses it).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from bson import ObjectId
from gridfs import AsyncGridFSBucket
from pymongo.asynchronous.database import AsyncDatabase

BASE_TIME = datetime(2024, 3, 1, tzinfo=UTC)
FIELD_TYPES = ("str", "int", "float", "bool", "datetime")


def _ids(n: int) -> list[ObjectId]:
    return [ObjectId() for _ in range(n)]


async def seed(db: AsyncDatabase[Any], scale: int = 1) -> dict[str, int]:
    """Write the pre-migration data into ``db``; return the number of documents per collection."""
    orgs, users, docs = _ids(5), _ids(20 * scale), _ids(25 * scale)
    await db.organizations.insert_many(
        [{"_id": o, "name": f"Org {i}", "members": users[i::5]} | ({"type": "team"} if i % 2 else {})
         for i, o in enumerate(orgs)]
    )
    await db.users.insert_many(
        [{"_id": u, "email": f"User{i}@Example.COM", "name": f"User {i}"} for i, u in enumerate(users)]
    )
    await db.docs.insert_many(
        [
            {
                "_id": d,
                "document_name": f"doc{i}.pdf",
                "tags": [f"t{i % 10}"],
                "state": "ocr_completed" if i % 3 else "uploaded",
                "upload_date": BASE_TIME + timedelta(minutes=i),
                "organization_id": str(orgs[i % 5]),
                "uploaded_by": str(users[i % len(users)]),
            }
            for i, d in enumerate(docs)
        ]
    )
    await db.llm_runs.insert_many(
        [
            {"prompt_id": f"p{i % 6}", "document_id": str(docs[i % len(docs)]), "llm_result": {"total": i}}
            for i in range(30 * scale)
        ]
    )
    await db.schemas.insert_many(
        [
            {
                "name": f"schema {i}",
                "fields": [{"name": f"field_{t}", "type": t} for t in FIELD_TYPES[: 2 + i % 4]],
                "version": 1,
                "created_at": BASE_TIME,
                "created_by": str(users[0]),
                "organization_id": str(orgs[i % 5]),
            }
            for i in range(6 * scale)
        ]
    )
    await db.prompts.insert_many(
        [{"name": f"prompt {i}", "content": "Extract the totals", "organization_id": str(orgs[i % 5])}
         for i in range(6 * scale)]
    )
    await db.tags.insert_many(
        [{"name": f"t{i}", "created_by": str(users[i % len(users)])} for i in range(10 * scale)]
    )
    await db.tags.create_index("name")
    await db.access_tokens.insert_many(
        [{"token": f"tok{i}", "token_hash": f"h{i}", "user_id": str(users[i])} for i in range(5)]
    )
    await db.access_tokens.create_index("token_hash")
    await db.tmp_exports.insert_many([{"n": i} for i in range(3)])
    bucket = AsyncGridFSBucket(db, bucket_name="ocr")
    for d in docs[:5]:
        await bucket.upload_from_stream(f"{d}_list", f"ocr text of {d}".encode(), metadata={"type": "ocr"})
    return {name: await db[name].count_documents({}) for name in sorted(await db.list_collection_names())}
