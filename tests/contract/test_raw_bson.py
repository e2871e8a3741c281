"""RawBSONDocument round trips: what the backup engine copies comes back byte for byte."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator
from typing import Any

import bson
import pytest
from bson import SON, Binary, Code, Decimal128, Int64, MaxKey, MinKey, ObjectId, Regex, Timestamp
from bson.datetime_ms import DatetimeMS
from bson.dbref import DBRef
from bson.raw_bson import RawBSONDocument
from pymongo import AsyncMongoClient
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import OperationFailure

from tests.servers import using_real_server

MAX_PY_DATETIME_MS = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z


def every_type(_id: Any) -> SON[str, Any]:
    """One document holding every BSON type (and a few edge values), keys in a deliberate order."""
    return SON(
        [
            ("_id", _id),
            ("double", 1.5),
            ("negative_zero", -0.0),
            ("nan", float("nan")),
            ("string", "héllo ✓"),
            ("document", SON([("z", 1), ("a", 2), ("m", SON([("y", 1), ("b", 2)]))])),
            ("array", [1, "two", SON([("k", None)]), [3.0], []]),
            ("binary", Binary(b"\x00\x01\xff", 0)),
            ("old_binary", Binary(b"old", 2)),
            ("legacy_uuid", Binary(uuid.uuid4().bytes, 3)),
            ("uuid", Binary(uuid.uuid4().bytes, 4)),
            ("user_binary", Binary(b"x", 128)),
            ("object_id", ObjectId()),
            ("true", True),
            ("false", False),
            ("datetime", dt.datetime(2024, 5, 6, 7, 8, 9, 123000, tzinfo=dt.UTC)),
            ("datetime_pre_epoch", DatetimeMS(-(2**40))),
            ("null", None),
            ("regex", Regex("^a.*b$", "imsx")),
            ("code", Code("function () { return 1; }")),
            ("code_with_scope", Code("function () { return x; }", {"x": 1})),
            ("int32", 2**31 - 1),
            ("timestamp", Timestamp(1_700_000_000, 7)),
            ("int64", Int64(2**62)),
            ("decimal", Decimal128("1.10")),
            ("decimal_negative_zero", Decimal128("-0")),
            ("decimal_infinity", Decimal128("Infinity")),
            ("min_key", MinKey()),
            ("max_key", MaxKey()),
            ("dbref", DBRef("runs", ObjectId(), "otherdb")),
            ("", "empty key"),
            ("empty_document", {}),
        ]
    )


@pytest.fixture
async def raw_coll(mongo_uri: str, db_name: str) -> AsyncIterator[AsyncCollection[RawBSONDocument]]:
    """A collection reached through a client that returns undecoded BSON."""
    c: AsyncMongoClient[RawBSONDocument] = AsyncMongoClient(
        mongo_uri, serverSelectionTimeoutMS=5000, document_class=RawBSONDocument
    )
    try:
        yield c[db_name]["raw"]
    finally:
        await c.close()


async def test_every_bson_type_round_trips_byte_for_byte(raw_coll: AsyncCollection[RawBSONDocument]) -> None:
    raw = bson.encode(every_type(1))
    await raw_coll.insert_one(RawBSONDocument(raw))
    back = await raw_coll.find_one({"_id": 1})
    assert back is not None
    assert back.raw == raw


async def test_insert_many_and_find_keep_bytes_and_key_order(raw_coll: AsyncCollection[RawBSONDocument]) -> None:
    originals = [bson.encode(every_type(i)) for i in range(50)]
    await raw_coll.insert_many([RawBSONDocument(r) for r in originals])
    back = [d.raw for d in await raw_coll.find({}, sort=[("_id", 1)], batch_size=7).to_list()]
    assert back == originals


async def test_id_moves_to_the_front_on_insert(raw_coll: AsyncCollection[RawBSONDocument]) -> None:
    """As on mongod: a stored document always starts with _id, so copies need not reorder anything else."""
    await raw_coll.insert_one(RawBSONDocument(bson.encode(SON([("a", 1), ("b", {"y": 1, "x": 2}), ("_id", 7)]))))
    back = await raw_coll.find_one({"_id": 7})
    assert back is not None
    assert back.raw == bson.encode(SON([("_id", 7), ("a", 1), ("b", {"y": 1, "x": 2})]))


async def test_dates_at_the_edges_of_python_datetime_round_trip(raw_coll: AsyncCollection[RawBSONDocument]) -> None:
    raws = [bson.encode({"_id": n, "d": DatetimeMS(ms)}) for n, ms in enumerate((MAX_PY_DATETIME_MS, -62135596800000))]
    await raw_coll.insert_many([RawBSONDocument(r) for r in raws])
    assert [d.raw for d in await raw_coll.find({}, sort=[("_id", 1)]).to_list()] == raws


async def test_dates_beyond_year_9999(raw_coll: AsyncCollection[RawBSONDocument]) -> None:
    """On mongod: any 64-bit date is stored. On SecantusDB: a date outside years 1-9999 is refused (code 2)."""
    raw = bson.encode({"_id": "far", "d": DatetimeMS(MAX_PY_DATETIME_MS + 1)})
    if using_real_server():
        await raw_coll.insert_one(RawBSONDocument(raw))
        back = await raw_coll.find_one({"_id": "far"})
        assert back is not None and back.raw == raw
    else:
        with pytest.raises(OperationFailure) as info:
            await raw_coll.insert_one(RawBSONDocument(raw))
        assert info.value.code == 2  # BadValue: "invalid BSON in body: year 10000 is out of range"
