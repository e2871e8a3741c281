"""The rehearsal's document comparison, on raw BSON and without a server: which differences count
(types, nested order, values) and which do not (top-level field order), and how they are explained."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import bson
import pytest
from bson import Binary, Code, Decimal128, Int64, MaxKey, MinKey, ObjectId, Regex, Timestamp
from bson.dbref import DBRef
from bson.son import SON

from analytiq_data.safety.docdiff import canonical_digest, elements, field_changes, id_key, show_id, split_batch


def raw(*pairs: tuple[str, Any]) -> bytes:
    """Encode the fields in the order given."""
    return bson.encode(SON(pairs))


EVERY_TYPE: list[tuple[str, Any]] = [
    ("_id", ObjectId("65a1b2c3d4e5f60718293a4b")),
    ("double", 1.5),
    ("string", "héllo"),
    ("object", {"a": 1, "b": [1, 2]}),
    ("array", [1, "two", {"three": 3}]),
    ("binary", Binary(b"\x00\x01", 4)),
    ("bool", True),
    ("date", datetime(2024, 5, 1, 10, 0, tzinfo=UTC)),
    ("null", None),
    ("regex", Regex("^a.*b$", "i")),
    ("code", Code("function () {}")),
    ("code_scope", Code("function () { return x }", {"x": 1})),
    ("int", 7),
    ("timestamp", Timestamp(1700000000, 3)),
    ("long", Int64(7)),
    ("decimal", Decimal128("7.10")),
    ("min", MinKey()),
    ("max", MaxKey()),
    ("dbref", DBRef("users", 1)),
]


def test_every_bson_type_splits_into_its_exact_elements() -> None:
    document = raw(*EVERY_TYPE)
    found = list(elements(document))
    assert [e.key for e in found] == [k for k, _ in EVERY_TYPE]
    assert b"".join(e.raw for e in found) == document[4:-1]  # nothing lost, nothing left over
    for element, (key, value) in zip(found, EVERY_TYPE, strict=True):
        assert element.raw == raw((key, value))[4:-1]


def test_top_level_order_does_not_count_but_types_values_and_nested_order_do() -> None:
    base = raw(("_id", 1), ("a", 1), ("b", {"x": 1, "y": 2}))
    assert canonical_digest(base) == canonical_digest(raw(("b", {"x": 1, "y": 2}), ("_id", 1), ("a", 1)))
    others = [
        raw(("_id", 1), ("a", Int64(1)), ("b", {"x": 1, "y": 2})),  # int32 → int64
        raw(("_id", 1), ("a", 1.0), ("b", {"x": 1, "y": 2})),  # int32 → double
        raw(("_id", 1), ("a", 1), ("b", SON([("y", 2), ("x", 1)]))),  # nested order
        raw(("_id", 1), ("a", 2), ("b", {"x": 1, "y": 2})),
        raw(("_id", 1), ("a", 1), ("b", {"x": 1, "y": 2}), ("c", None)),  # an added null
        raw(("_id", 1), ("a", 1)),
    ]
    digests = {canonical_digest(d) for d in others}
    assert len(digests) == len(others) and canonical_digest(base) not in digests


def test_changes_name_each_field_path_with_its_values_and_types() -> None:
    before = raw(("_id", 1), ("state", "new"), ("n", 1), ("meta", {"tags": ["a", "b"], "by": "ada"}))
    after = raw(("_id", 1), ("n", Int64(1)), ("meta", {"tags": ["a", "c"], "by": "ada"}), ("extra", True))
    lines = [c.line() for c in field_changes(before, after)]
    assert lines == [
        "state: 'new' (string) → (absent)",
        "n: 1 (int) → 1 (long)",
        "meta.tags.1: 'b' (string) → 'c' (string)",
        "extra: (absent) → True (bool)",
    ]
    assert field_changes(before, before) == []
    reordered = raw(("_id", 1), ("state", "new"), ("n", 1), ("meta", SON([("by", "ada"), ("tags", ["a", "b"])])))
    assert [c.line() for c in field_changes(before, reordered)] == [
        "meta: (field order tags, by) → (field order by, tags)"
    ]
    assert (
        field_changes(before, raw(("n", 1), ("_id", 1), ("meta", {"tags": ["a", "b"], "by": "ada"}), ("state", "new")))
        == []
    )


def test_ids_batches_and_corrupt_input() -> None:
    document = raw(("x", 1), ("_id", "abc"))
    assert id_key(document) == b"\x02" + raw(("_id", "abc"))[4 + 5 : -1]  # string type, then its value
    assert show_id(id_key(document)) == "'abc'"
    assert show_id(id_key(raw(("x", 1)))) == "(no _id)"
    assert re.fullmatch(r"ObjectId\('[0-9a-f]{24}'\)", show_id(id_key(raw(("_id", ObjectId()))))) is not None
    docs = [raw(("_id", i)) for i in range(3)]
    assert list(split_batch(b"".join(docs))) == docs
    with pytest.raises(ValueError, match="corrupt"):
        list(elements(docs[0][:-1]))
    with pytest.raises(ValueError, match="corrupt"):
        list(split_batch(docs[0] + b"\x09\x00"))
