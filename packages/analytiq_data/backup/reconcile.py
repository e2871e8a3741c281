"""Writing a range so that writes of an earlier, stopped run that land late are harmless.

A killed run's insert batches can reach the destination after a ``--resume`` restarted their
range: they wait in a server's queue, in a proxy or a ``mongos``, and a server finishes a write
whose client died. So a resume never drops, recreates or bulk-deletes a collection it copies into
(a late insert that straddles a drop can land outside the new collection's ``_id`` index, or
recreate it without its options; a late range delete would erase the resume's own work). Instead:

- the destination's unique ``_id`` index stays in place the whole time, so an earlier run's insert
  of a document the resume already wrote fails on it, and one that landed first is met by the
  resume's insert as a duplicate and made byte for byte the document read now (``settle``);
- every other write a resume makes is conditional on the exact document it replaces or deletes
  (``$expr`` equality with ``$$ROOT``), so if it lands late itself it changes nothing a later run
  wrote;
- after a resumed range is written, the destination's documents in that ``_id`` range that this
  run did not read (an earlier run wrote them, the source has since deleted them) are removed
  (``remove_unread``), using the ``_id``s this run read (``SeenIds``, 8 bytes each).

Time-series collections have no unique ``_id`` index: their unfinished ranges are deleted before
they are copied again, and a late duplicate there shows as a count difference in the verification.
"""

from __future__ import annotations

import bisect
from array import array
from collections.abc import Iterable, Sequence
from hashlib import blake2b
from typing import Any

import bson
from bson import CodecOptions, DatetimeConversion
from bson.raw_bson import RawBSONDocument
from pymongo import DeleteOne, ReplaceOne
from pymongo.asynchronous.collection import AsyncCollection

from analytiq_data.backup.plan import IdRange

#: ``_id``s looked up per query (SecantusDB answers an ``$in`` of n values in time growing like n²).
LOOKUP = 100
#: Size in bytes of the value of fixed-size BSON types (by type byte).
_FIXED = {0x01: 8, 0x06: 0, 0x07: 12, 0x08: 1, 0x09: 8, 0x0A: 0, 0x10: 4, 0x11: 8, 0x12: 8, 0x13: 16, 0x7F: 0, 0xFF: 0}
#: Types whose value starts with its own int32 length (documents, arrays, code with scope).
_SIZED = frozenset({0x03, 0x04, 0x0F})
#: Types whose value is an int32 length then that many bytes (strings, code, symbols).
_STRINGS = frozenset({0x02, 0x0D, 0x0E})
_ID = b"_id\x00"
#: Decoding an ``_id`` so that it encodes back to the same bytes (embedded documents stay raw).
_VALUES: CodecOptions[RawBSONDocument] = CodecOptions(
    document_class=RawBSONDocument, datetime_conversion=DatetimeConversion.DATETIME_AUTO
)


def id_element(raw: bytes | memoryview) -> bytes:
    """Return the raw BSON element (type byte, name, value) of a document's ``_id``.

    Servers store ``_id`` first, so this reads only the first element; a document whose first
    field is not ``_id`` is decoded to find it. Two documents have the same ``_id`` bytes when this
    returns the same bytes.
    """
    view = memoryview(raw)
    if len(view) > 9 and view[5:9] == _ID:
        size = _value_size(view[4], view[9:])
        if size is not None and 9 + size < len(view):
            return bytes(view[4 : 9 + size])
    value = bson.decode(bytes(view), _VALUES)["_id"]
    return bson.encode({"_id": value}, codec_options=_VALUES)[4:-1]


def _value_size(kind: int, value: memoryview) -> int | None:
    if kind in _FIXED:
        return _FIXED[kind]
    if kind in _SIZED:
        return int.from_bytes(value[:4], "little")
    if kind in _STRINGS:
        return 4 + int.from_bytes(value[:4], "little")
    if kind == 0x05:  # binary: length, subtype, data
        return 5 + int.from_bytes(value[:4], "little")
    return None  # regular expressions, DB pointers: rare as _id, found by decoding


def id_key(raw: bytes | memoryview) -> int:
    """Return a 64-bit key of a document's ``_id`` (equal ``_id`` bytes, equal keys)."""
    return int.from_bytes(blake2b(id_element(raw), digest_size=8).digest(), "little")


def id_value(doc: RawBSONDocument) -> Any:
    """Return a raw document's ``_id`` value, decoded only so far that it encodes back to the same bytes."""
    element = id_element(doc.raw)
    return bson.decode((len(element) + 5).to_bytes(4, "little") + element + b"\x00", _VALUES)["_id"]


class SeenIds:
    """The ``_id``s one run read for one range, as sorted 64-bit keys (8 bytes a document)."""

    def __init__(self) -> None:
        self._keys: array[int] = array("Q")
        self._sorted = True

    def add(self, docs: Iterable[RawBSONDocument]) -> None:
        """Remember the ``_id``s of ``docs``."""
        self._keys.extend(id_key(d.raw) for d in docs)
        self._sorted = False

    def __len__(self) -> int:
        return len(self._keys)

    def __contains__(self, raw: object) -> bool:
        if not isinstance(raw, bytes | memoryview):
            return False
        if not self._sorted:
            self._keys = array("Q", sorted(self._keys))
            self._sorted = True
        key = id_key(raw)
        at = bisect.bisect_left(self._keys, key)
        return at < len(self._keys) and self._keys[at] == key


async def find_ids(coll: AsyncCollection[RawBSONDocument], ids: Sequence[Any]) -> list[RawBSONDocument]:
    """Return the documents of ``coll`` with these ``_id``s, asking ``LOOKUP`` at a time (long ``$in``s are slow)."""
    found: list[RawBSONDocument] = []
    for start in range(0, len(ids), LOOKUP):
        found += [d async for d in coll.find({"_id": {"$in": list(ids[start : start + LOOKUP])}})]
    return found


def same_document(doc: RawBSONDocument) -> dict[str, Any]:
    """Return a filter matching the document with ``doc``'s ``_id`` only while it is still exactly ``doc``."""
    return {"_id": id_value(doc), "$expr": {"$eq": ["$$ROOT", {"$literal": doc}]}}


async def settle(target: AsyncCollection[RawBSONDocument], docs: Sequence[RawBSONDocument]) -> list[RawBSONDocument]:
    """Make the destination's documents with ``docs``' ``_id``s exactly ``docs``; return those to insert again.

    Each ``docs`` entry met a duplicate ``_id``. One that is already there byte for byte is left; one
    that differs is replaced, on condition that it is still what was read a moment ago (so this
    write is harmless should it land late itself). Returned: documents no longer there (deleted in
    the meantime) and those whose conditional replace matched nothing; the caller inserts them again.
    """
    by_key = {id_key(d.raw): d for d in docs}
    found = {id_key(f.raw): f for f in await find_ids(target, [id_value(d) for d in docs])}
    again = [d for k, d in by_key.items() if k not in found]
    stale = [(by_key[k], f) for k, f in found.items() if k in by_key and bytes(f.raw) != bytes(by_key[k].raw)]
    if stale:
        result = await target.bulk_write([ReplaceOne(same_document(f), d) for d, f in stale], ordered=False)
        if result.matched_count < len(stale):
            again += [d for d, _ in stale]  # changed meanwhile: insert again, and settle again if present
    return again


async def remove_unread(coll: AsyncCollection[RawBSONDocument], rng: IdRange, seen: SeenIds, batch: int) -> int:
    """Delete the documents of range ``rng`` on the destination whose ``_id`` this run did not read; return how many.

    Each delete is conditional on the exact document found, so it removes nothing a later run wrote.
    """
    unread: list[Any] = []
    async for doc in coll.find(rng.filter(), {"_id": 1}, batch_size=max(batch, 1000)):
        if doc.raw not in seen:
            unread.append(id_value(doc))
    docs = await find_ids(coll, unread)
    if not docs:
        return 0
    result = await coll.bulk_write([DeleteOne(same_document(d)) for d in docs], ordered=False)
    return result.deleted_count
