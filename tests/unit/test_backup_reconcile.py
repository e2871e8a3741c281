"""``_id`` keys of raw documents (pure): the same ``_id`` bytes give the same key, whatever the type or field order."""

from __future__ import annotations

import datetime
import uuid
from typing import Any

import bson
import pytest
from bson import Binary, Code, Decimal128, Int64, MaxKey, MinKey, ObjectId, Regex
from bson.raw_bson import RawBSONDocument

from analytiq_data.backup.reconcile import SeenIds, id_element, id_key, id_value

IDS: list[Any] = [
    7,
    Int64(7),
    7.5,
    "seven",
    "",
    ObjectId(),
    {"a": 1, "b": [1, {"c": "d"}]},
    {"$weird": 1, "dotted.name": 2},
    Binary(uuid.uuid4().bytes, 4),
    Binary(b"\x00\x01", 0),
    datetime.datetime(2024, 2, 29, 12, 0, tzinfo=datetime.UTC),
    bson.DatetimeMS(-(10**15)),  # outside Python's datetime range
    Decimal128("1.10"),
    True,
    None,
    Regex("^a.*", "i"),
    Code("return 1"),
    MinKey(),
    MaxKey(),
]


@pytest.mark.parametrize("value", IDS, ids=[type(v).__name__ + str(i) for i, v in enumerate(IDS)])
def test_the_id_element_is_the_encoded_id_wherever_it_stands(value: Any) -> None:
    expected = bson.encode({"_id": value})[4:-1]
    first = bson.encode({"_id": value, "x": "y" * 100})
    later = bson.encode({"x": 1, "_id": value})

    assert id_element(first) == expected
    assert id_element(later) == expected
    assert bson.encode({"_id": id_value(RawBSONDocument(first))})[4:-1] == expected, "decoded back to the same bytes"
    assert id_key(first) == id_key(later) == id_key(bson.encode({"_id": value}))


def test_ids_equal_on_the_server_but_of_other_types_are_other_keys() -> None:
    """7, Int64(7) and 7.0 are one ``_id`` to the index: the copy writes bytes as read, so bytes decide."""
    keys = {id_key(bson.encode({"_id": v})) for v in (7, Int64(7), 7.0)}
    assert len(keys) == 3


def test_seen_ids_answer_membership_by_id_only() -> None:
    seen = SeenIds()
    seen.add(RawBSONDocument(bson.encode({"_id": i, "v": i})) for i in range(1000))
    seen.add([RawBSONDocument(bson.encode({"_id": "x"}))])

    assert len(seen) == 1001
    assert bson.encode({"_id": 500}) in seen
    assert bson.encode({"_id": 500, "other": "content"}) in seen
    assert bson.encode({"_id": "x"}) in seen
    assert bson.encode({"_id": 1000}) not in seen
    assert bson.encode({"_id": "y"}) not in seen
