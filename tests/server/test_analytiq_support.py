"""Type-exact snapshots of collections, for comparing databases before and after migrations.

A snapshot maps each document (by the raw bytes of its ``_id``) to its top-level fields, each kept
as the raw BSON bytes of its value: two snapshots are equal iff every document has the same fields
with the same values and BSON types (int32 ≠ int64 ≠ double, nested field order kept), whatever the
order of the top-level fields. The tests at the bottom check the comparison itself.
"""

from __future__ import annotations

import struct
from typing import Any

import bson
from bson import Int64
from bson.codec_options import CodecOptions
from bson.raw_bson import RawBSONDocument
from pymongo.asynchronous.database import AsyncDatabase

RAW = CodecOptions(document_class=RawBSONDocument)
Snapshot = dict[bytes, dict[str, bytes]]

SAMPLE_COLLECTIONS = ("documents", "ocr.files", "ocr.chunks", "llm.runs", "schemas", "prompts")

_FIXED = {0x01: 8, 0x06: 0, 0x07: 12, 0x08: 1, 0x09: 8, 0x0A: 0, 0x10: 4, 0x11: 8, 0x12: 8, 0x13: 16, 0xFF: 0, 0x7F: 0}


def _value_length(data: bytes, pos: int, kind: int) -> int:
    if kind in _FIXED:
        return _FIXED[kind]
    if kind in (0x02, 0x0D, 0x0E):  # string, code, symbol
        return 4 + int(struct.unpack_from("<i", data, pos)[0])
    if kind in (0x03, 0x04, 0x0F):  # document, array, code with scope
        return int(struct.unpack_from("<i", data, pos)[0])
    if kind == 0x05:  # binary
        return 5 + int(struct.unpack_from("<i", data, pos)[0])
    if kind == 0x0B:  # regex: two cstrings
        end = data.index(b"\x00", data.index(b"\x00", pos) + 1)
        return end + 1 - pos
    if kind == 0x0C:  # DBPointer
        return 4 + int(struct.unpack_from("<i", data, pos)[0]) + 12
    raise ValueError(f"unknown BSON type 0x{kind:02x}")


def top_level(raw: bytes) -> dict[str, bytes]:
    """Return each top-level field of a BSON document as its type byte followed by its value bytes."""
    fields: dict[str, bytes] = {}
    pos = 4
    while raw[pos] != 0:
        kind = raw[pos]
        name_end = raw.index(b"\x00", pos + 1)
        name = raw[pos + 1 : name_end].decode()
        start = name_end + 1
        end = start + _value_length(raw, start, kind)
        fields[name] = bytes([kind]) + raw[start:end]
        pos = end
    return fields


async def snapshot(db: AsyncDatabase[Any], collection: str) -> Snapshot:
    """Return the type-exact snapshot of ``collection``."""
    docs = await db.get_collection(collection, codec_options=RAW).find({}).to_list()
    out: Snapshot = {}
    for doc in docs:
        fields = top_level(doc.raw)
        out[fields["_id"]] = fields
    return out


async def snapshot_all(
    db: AsyncDatabase[Any], collections: tuple[str, ...] = SAMPLE_COLLECTIONS
) -> dict[str, Snapshot]:
    """Return the snapshots of ``collections``."""
    return {name: await snapshot(db, name) for name in collections}


def differences(before: Snapshot, after: Snapshot, limit: int = 5) -> list[str]:
    """Describe (decoded, for people) up to ``limit`` documents that differ between two snapshots."""
    out: list[str] = []
    for key in sorted(set(before) | set(after)):
        old, new = before.get(key), after.get(key)
        if old == new:
            continue
        if old is None or new is None:
            out.append(f"{_decode_id(key)!r}: {'added' if old is None else 'removed'}")
        else:
            changed = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
            out.append(f"{_decode_id(key)!r}: fields {changed} differ: {_show(old, changed)} -> {_show(new, changed)}")
        if len(out) >= limit:
            break
    return out


def _element_doc(name: str, element: bytes) -> bytes:
    body = element[:1] + name.encode() + b"\x00" + element[1:]
    return struct.pack("<i", len(body) + 5) + body + b"\x00"


def _decode_id(key: bytes) -> Any:
    return bson.decode(_element_doc("_id", key))["_id"]


def _show(fields: dict[str, bytes], names: list[str]) -> dict[str, Any]:
    return {n: (bson.decode(_element_doc(n, fields[n]))[n] if n in fields else "<missing>") for n in names}


def assert_same(before: dict[str, Snapshot], after: dict[str, Snapshot]) -> None:
    """Assert two sets of snapshots are equal, listing the first differing documents otherwise."""
    assert set(before) == set(after)
    for name in before:
        diff = differences(before[name], after[name])
        assert not diff, f"{name}: {len(diff)}+ documents differ: " + "; ".join(diff)


def _raw(doc: dict[str, Any]) -> bytes:
    return bson.encode(doc)


def test_snapshot_ignores_top_level_order_only() -> None:
    a = top_level(_raw({"_id": 1, "x": 1, "y": {"p": 1, "q": 2}}))
    b = top_level(_raw({"y": {"p": 1, "q": 2}, "_id": 1, "x": 1}))
    c = top_level(_raw({"_id": 1, "x": 1, "y": {"q": 2, "p": 1}}))
    assert a == b
    assert a != c  # nested order counts


def test_snapshot_tells_bson_number_types_apart() -> None:
    as_int32 = top_level(_raw({"_id": 1, "n": 5}))
    as_int64 = top_level(_raw({"_id": 1, "n": Int64(5)}))
    as_double = top_level(_raw({"_id": 1, "n": 5.0}))
    assert len({as_int32["n"], as_int64["n"], as_double["n"]}) == 3


def test_differences_name_the_fields() -> None:
    old, new = top_level(_raw({"_id": 1, "n": 5})), top_level(_raw({"_id": 1, "n": Int64(5), "m": "x"}))
    (line,) = differences({old["_id"]: old}, {new["_id"]: new})
    assert line.startswith("1: fields ['m', 'n'] differ") and "<missing>" in line


def test_top_level_parses_every_common_type() -> None:
    import datetime

    from bson import Binary, Decimal128, MaxKey, MinKey, ObjectId, Regex, Timestamp

    doc = {
        "_id": ObjectId(),
        "d": 1.5,
        "s": "é",
        "o": {"a": [1, {"b": None}]},
        "bin": Binary(b"\x00\x01", 4),
        "t": True,
        "dt": datetime.datetime(2020, 1, 1),
        "n": None,
        "re": Regex("^a", "i"),
        "i": 3,
        "ts": Timestamp(5, 1),
        "l": Int64(7),
        "dec": Decimal128("1.10"),
        "min": MinKey(),
        "max": MaxKey(),
    }
    fields = top_level(_raw(doc))
    assert list(fields) == list(doc)
    assert all(_show(fields, [k])[k] == v for k, v in doc.items() if k not in ("re",))
