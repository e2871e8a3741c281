"""A backup is a faithful copy: every BSON type byte for byte, every index and collection kind, views, GridFS.

The big test builds a database with 6,000+ documents of every BSON type and every index and
collection kind the server supports (the largest collection moves in a dozen batches; the same check
at 100,000 documents is ``python -m benchmarks.faithful_copy``), copies it to the second server, and
then checks the copy itself, independently of the backup's own verification: raw bytes sorted by ``_id`` (``$natural``
order for the capped collection), ``listIndexes`` and ``listCollections`` options, GridFS content,
and that the copy enforces what the source enforces (unique index, validator).
"""

from __future__ import annotations

import datetime
import random
import uuid
from typing import Any

import pytest
from bson import (
    Binary,
    Code,
    CodecOptions,
    DBRef,
    Decimal128,
    Int64,
    MaxKey,
    MinKey,
    ObjectId,
    Regex,
    Timestamp,
    encode,
)
from bson.raw_bson import RawBSONDocument
from gridfs import AsyncGridFSBucket
from pymongo import AsyncMongoClient
from pymongo import errors as pm_errors
from pymongo.asynchronous.database import AsyncDatabase

from analytiq_data.backup import BackupOptions, backup

RAW: CodecOptions[RawBSONDocument] = CodecOptions(document_class=RawBSONDocument)
UTC = datetime.UTC
BIG_DOCS = 6_000
BATCH_SIZE = 500  # the largest collection moves in 12 batches
FAR_FUTURE = datetime.datetime(2999, 1, 1, tzinfo=UTC)


def mixed_id(i: int) -> Any:
    """Return a unique ``_id`` of one of eight BSON types (numbers never collide across types)."""
    kind = i % 8
    if kind == 0:
        return i
    if kind == 1:
        return Int64(i)
    if kind == 2:
        return i + 0.5
    if kind == 3:
        return Decimal128(f"{i}.25")
    if kind == 4:
        return f"id-{i:07d}"
    if kind == 5:
        return ObjectId(i.to_bytes(12, "big"))
    if kind == 6:
        return {"k": i, "tag": "compound"}
    return datetime.datetime(2001, 1, 1, tzinfo=UTC) + datetime.timedelta(milliseconds=i)


def typed_fields(i: int, rng: random.Random) -> dict[str, Any]:
    """Return fields of every BSON type PyMongo can write, with awkward values (NaN, -0.0, NUL, 1901)."""
    return {
        "double": rng.random() * 1e6,
        "nan": float("nan"),
        "inf": float("-inf"),
        "negzero": -0.0,
        "string": f"héllo {i} ✓ \u0000 nul",
        "empty": "",
        "object": {"a": i, "nested": {"b": [i, str(i)], "c": {}}},
        "array": [i, "x", None, [1, [2]], {"z": 1}, []],
        "binary": Binary(rng.randbytes(rng.randint(0, 40)), 0),
        "uuid": Binary(uuid.UUID(int=rng.getrandbits(128)).bytes, 4),
        "md5": Binary(rng.randbytes(16), 5),
        "user_binary": Binary(b"\x00\xff" * 3, 128),
        "oid": ObjectId(),
        "bool": i % 3 == 0,
        "date": datetime.datetime(2024, 1, 1, tzinfo=UTC) + datetime.timedelta(seconds=i),
        "old_date": datetime.datetime(1901, 12, 13, tzinfo=UTC) - datetime.timedelta(days=i % 500),
        "null": None,
        "regex": Regex("^ab+c.*$", "imsx"),
        "code": Code("function () { return 1; }"),
        "code_scope": Code("function () { return x; }", {"x": i}),
        "int32": i - 50_000,
        "int64": Int64(2**40 + i),
        "timestamp": {"ts": Timestamp(1_700_000_000 + i, 1 + i % 7), "zero": Timestamp(0, 0)},
        "decimal": Decimal128(f"-{i}.000100"),
        "decimal_special": [Decimal128("NaN"), Decimal128("-Infinity"), Decimal128("-0")],
        "minkey": MinKey(),
        "maxkey": MaxKey(),
        "dbref": DBRef("other", i, "otherdb"),
    }


def every_type_doc(i: int, rng: random.Random) -> bytes:
    """Return one raw document holding every BSON type, and fields for every index kind."""
    doc = {
        "_id": mixed_id(i),
        **typed_fields(i, rng),
        "expires": FAR_FUTURE,
        "unique_key": i,
        "group": i % 100,
        "word": rng.choice(["Alpha", "alpha", "ALPHA", "beta", "Beta"]),
        "attrs": {"color": rng.choice(["red", "blue"]), "size": i % 5},
    }
    if i % 4:
        doc["sparse_field"] = i if i % 10 else None
    return encode(doc)


def rotating_doc(i: int, rng: random.Random, names: list[str]) -> bytes:
    """Return a small raw document: a mixed-type ``_id`` and three typed fields, rotating through all types."""
    fields = typed_fields(i, rng)
    picked = {names[(i + k) % len(names)] for k in range(3)}
    return encode({"_id": mixed_id(i), "unique_key": i, **{k: fields[k] for k in sorted(picked)}})


#: Index builds cost a full scan each on SecantusDB (geo ones much more), so every index kind lives on
#: a small collection; the big one has only a unique index.
GEO_INDEXES: list[dict[str, Any]] = [
    {"key": {"loc": "2dsphere"}, "name": "geo"},
    {"key": {"flat": "2d"}, "name": "flat2d"},
]

INDEXES: list[dict[str, Any]] = [
    {"key": {"unique_key": 1}, "name": "unique_key_1", "unique": True},
    {"key": {"expires": 1}, "name": "ttl", "expireAfterSeconds": 3600},
    {"key": {"group": 1}, "name": "partial", "partialFilterExpression": {"group": {"$gt": 50}}},
    {"key": {"sparse_field": 1}, "name": "sparse", "sparse": True},
    {"key": {"word": 1}, "name": "ci_word", "collation": {"locale": "en", "strength": 2}},
    {"key": {"group": 1, "date": -1}, "name": "compound"},
    {"key": {"group": "hashed"}, "name": "hashed"},
    {"key": {"attrs.$**": 1}, "name": "wildcard"},
    {"key": {"string": "text"}, "name": "text", "default_language": "english"},
    {"key": {"int32": 1}, "name": "hidden", "hidden": True},
]


async def create_supported_indexes(db: AsyncDatabase[Any], name: str, specs: list[dict[str, Any]]) -> list[str]:
    """Create each index the server accepts; return the names of those it refused (e.g. text on SecantusDB)."""
    refused = []
    for spec in specs:
        try:
            await db.command("createIndexes", name, indexes=[spec])
        except pm_errors.OperationFailure as exc:
            assert exc.code in (67, 85, 86, 197), exc  # "not supported" family, never a bug of ours
            refused.append(str(spec["name"]))
    return refused


async def build_source(db: AsyncDatabase[Any], big_docs: int = BIG_DOCS) -> dict[str, Any]:
    """Fill ``db`` with every collection kind (``big_docs`` in the largest); return facts the checks need."""
    rng = random.Random(20240601)
    names = list(typed_fields(0, rng))
    big = db.get_collection("everything", codec_options=RAW)
    batch: list[RawBSONDocument] = []
    for i in range(big_docs):
        batch.append(RawBSONDocument(rotating_doc(i, rng, names)))
        if len(batch) == 2000 or i == big_docs - 1:
            await big.insert_many(batch)
            batch = []
    await db.everything.create_index("unique_key", unique=True)
    indexed = db.get_collection("indexed", codec_options=RAW)
    await indexed.insert_many([RawBSONDocument(every_type_doc(i, rng)) for i in range(1000)])
    refused = await create_supported_indexes(db, "indexed", INDEXES)
    await db.places.insert_many(
        [
            {"_id": i, "loc": {"type": "Point", "coordinates": [i - 180.0, i / 4 - 45]}, "flat": [i / 2, -i / 3]}
            for i in range(300)
        ]
    )
    refused += await create_supported_indexes(db, "places", GEO_INDEXES)
    # A validator that rejects documents already there: the copy must keep them and the rule.
    await db.create_collection("validated")
    await db.validated.insert_many([{"_id": i, "status": "old" if i % 2 else "new"} for i in range(50)])
    await db.command(
        "collMod",
        "validated",
        validator={"$jsonSchema": {"required": ["status", "owner"]}},
        validationLevel="strict",
        validationAction="error",
    )
    await db.create_collection("capped", capped=True, size=64 * 1024, max=300)
    for i in range(500):  # overflow: only the last 300 remain, in insertion order, _ids descending
        await db.capped.insert_one({"_id": 10_000 - i, "i": i})
    await db.create_collection("french", collation={"locale": "fr", "strength": 1})
    await db.french.insert_many([{"_id": f"é{i}", "v": i} for i in range(20)])
    await db.create_collection(
        "metrics", timeseries={"timeField": "t", "metaField": "sensor", "granularity": "minutes"}
    )
    start = datetime.datetime(2024, 5, 1, tzinfo=UTC)
    await db.metrics.insert_many(
        [{"t": start + datetime.timedelta(minutes=i), "sensor": {"id": i % 4}, "value": i * 0.5} for i in range(400)]
    )
    await db.create_collection("events", clusteredIndex={"key": {"_id": 1}, "unique": True, "name": "events_cluster"})
    await db.events.insert_many([{"_id": start + datetime.timedelta(seconds=i), "n": i} for i in range(100)])
    await db["system.js"].insert_one({"_id": "double", "value": Code("function (x) { return 2 * x; }")})
    await db.create_collection("recent", viewOn="everything", pipeline=[{"$match": {"group": {"$gt": 90}}}])
    await db.create_collection("recent_ids", viewOn="recent", pipeline=[{"$project": {"_id": 1}}])
    bucket = AsyncGridFSBucket(db, bucket_name="ocr")
    payload = random.Random(7).randbytes(700_000)
    file_id = await bucket.upload_from_stream("doc1_json", payload, metadata={"document_id": "doc1"})
    return {"refused_indexes": refused, "payload": payload, "file_id": file_id}


async def raw_docs(db: AsyncDatabase[Any], name: str, natural: bool = False) -> list[bytes]:
    """Return the raw bytes of every document, sorted (``_id`` leads each document), or in ``$natural`` order.

    Sorting the bytes here rather than by ``_id`` on the server gives the same canonical order for
    equal sets and avoids a server-side sort of mixed ``_id`` types (slow on SecantusDB).
    """
    coll = db.get_collection(name, codec_options=RAW)
    docs = [bytes(doc.raw) async for doc in coll.find({}).hint([("$natural", 1)])]
    return docs if natural else sorted(docs)


async def definitions(db: AsyncDatabase[Any]) -> dict[str, Any]:
    """Return each namespace's type and options, and each collection's indexes (without ``ns``)."""
    out: dict[str, Any] = {}
    async for info in await db.list_collections():
        name = info["name"]
        entry: dict[str, Any] = {"type": info["type"], "options": info["options"]}
        if info["type"] != "view":
            specs = [{k: v for k, v in s.items() if k != "ns"} async for s in await db[name].list_indexes()]
            entry["indexes"] = sorted(specs, key=lambda s: str(s["name"]))
        out[name] = entry
    return out


async def test_copy_is_faithful_and_verified(mongo_uri: str, mongo_uri_2: str, db_name: str, db_name_2: str) -> None:
    await copy_and_check(mongo_uri, mongo_uri_2, db_name, db_name_2, BIG_DOCS, BATCH_SIZE)


async def copy_and_check(
    mongo_uri: str, mongo_uri_2: str, db_name: str, db_name_2: str, big_docs: int, batch_size: int
) -> None:
    """Build the source (``big_docs`` in the largest collection), back it up ``batch_size`` documents at a time,
    and check the copy independently of the backup's own verification."""
    src_client: AsyncMongoClient[Any] = AsyncMongoClient(mongo_uri, tz_aware=True)
    dst_client: AsyncMongoClient[Any] = AsyncMongoClient(mongo_uri_2, tz_aware=True)
    try:
        src, dst = src_client[db_name], dst_client[db_name_2]
        facts = await build_source(src, big_docs)
        source_before = await definitions(src)

        options = BackupOptions(
            src_uri=mongo_uri, dest_uri=mongo_uri_2, src_db=db_name, dest_db=db_name_2, batch_size=batch_size
        )
        result = await backup(options)

        assert result.verified is True, result.differences
        by_name = {r.name: r for r in result.reports}
        assert by_name["everything"].documents == big_docs
        assert result.concurrency is not None and result.concurrency.batches >= big_docs // batch_size
        assert by_name["recent_ids"].kind == "view"
        # Independent checks, not through the backup's own verification:
        copied = await definitions(dst)
        assert copied.pop("__backup_manifest")["type"] == "collection"  # the record of a complete backup
        assert copied == source_before == await definitions(src)
        for name in (
            "everything",
            "indexed",
            "places",
            "validated",
            "french",
            "events",
            "system.js",
            "ocr.files",
            "ocr.chunks",
        ):
            assert await raw_docs(dst, name) == await raw_docs(src, name), name
        # Time-series measurements are compared as the server returns them (it stores buckets).
        assert await raw_docs(dst, "metrics") == await raw_docs(src, "metrics")
        capped = await raw_docs(dst, "capped", natural=True)
        assert capped == await raw_docs(src, "capped", natural=True)
        assert len(capped) == 300
        bucket = AsyncGridFSBucket(dst, bucket_name="ocr")
        stream = await bucket.open_download_stream(facts["file_id"])
        assert await stream.read() == facts["payload"]
        # The copy enforces what the source enforces.
        with pytest.raises(pm_errors.DuplicateKeyError):
            await dst.indexed.insert_one({"unique_key": 7})
        with pytest.raises(pm_errors.WriteError) as rejected:
            await dst.validated.insert_one({"_id": 999, "status": "new"})
        assert rejected.value.code == 121
        assert "__backup_state" not in await dst.list_collection_names()
        assert "__backup_state" not in await src.list_collection_names()
        assert facts["refused_indexes"] == [] or set(facts["refused_indexes"]) <= {"text", "hashed"}
    finally:
        await src_client.close()
        await dst_client.close()
