"""Comparing documents as stored: raw BSON, field for field, value for value, types included.

Two documents are *equal* when they hold the same top-level fields (in any order) and each field's
value has the same BSON bytes: the same type (int32 ≠ int64 ≠ double) and the same value, nested
documents with their fields in the same order. ``canonical_digest`` hashes exactly that, so a
document can be remembered by 16 bytes; ``field_changes`` explains a difference as field paths
with the value before and after. Pure code on bytes, tested without a server.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from hashlib import blake2b
from typing import Any

import bson
from bson.codec_options import CodecOptions, DatetimeConversion

from analytiq_data.backup.digest import split_batch as documents_of

_ZERO_LENGTH = {0x06, 0x0A, 0x7F, 0xFF}  # undefined, null, maxKey, minKey
_FIXED = {0x01: 8, 0x07: 12, 0x08: 1, 0x09: 8, 0x10: 4, 0x11: 8, 0x12: 8, 0x13: 16}
_STRING_LIKE = {0x02, 0x0D, 0x0E}  # string, JavaScript code, symbol
_EMBEDDED = {0x03, 0x04, 0x0F}  # document, array, code with scope: an int32 total length first
TYPE_NAMES = {
    0x01: "double", 0x02: "string", 0x03: "object", 0x04: "array", 0x05: "binData", 0x06: "undefined",
    0x07: "objectId", 0x08: "bool", 0x09: "date", 0x0A: "null", 0x0B: "regex", 0x0C: "dbPointer",
    0x0D: "javascript", 0x0E: "symbol", 0x0F: "javascriptWithScope", 0x10: "int", 0x11: "timestamp",
    0x12: "long", 0x13: "decimal", 0x7F: "maxKey", 0xFF: "minKey",
}  # fmt: skip
DISPLAY_OPTIONS: CodecOptions[dict[str, Any]] = CodecOptions(
    tz_aware=True, datetime_conversion=DatetimeConversion.DATETIME_AUTO
)
MAX_SHOWN = 120
ABSENT = "(absent)"


@dataclass(frozen=True)
class Element:
    """One field of a raw document: its name, BSON type byte, the whole element's bytes, and its value's."""

    key: str
    type: int
    raw: bytes  # type byte, name, value: self-delimiting, so concatenations are unambiguous
    value: bytes


def _cstring_end(data: bytes, start: int) -> int:
    end = data.index(b"\x00", start)
    return end


def _value_length(data: bytes, kind: int, pos: int) -> int:
    if kind in _ZERO_LENGTH:
        return 0
    if kind in _FIXED:
        return _FIXED[kind]
    if kind in _STRING_LIKE:
        return 4 + int.from_bytes(data[pos : pos + 4], "little")
    if kind in _EMBEDDED:
        return int.from_bytes(data[pos : pos + 4], "little")
    if kind == 0x05:  # binary: length, subtype, bytes
        return 5 + int.from_bytes(data[pos : pos + 4], "little")
    if kind == 0x0B:  # regex: pattern and options, two C strings
        return _cstring_end(data, _cstring_end(data, pos) + 1) + 1 - pos
    if kind == 0x0C:  # DBPointer: a string and an ObjectId
        return 4 + int.from_bytes(data[pos : pos + 4], "little") + 12
    raise ValueError(f"unknown BSON type 0x{kind:02x} at offset {pos - 1}")


def elements(document: bytes) -> Iterator[Element]:
    """Yield the fields of a raw BSON document (or array) in stored order; raise ValueError if corrupt."""
    data = bytes(document)
    size = int.from_bytes(data[:4], "little")
    if size != len(data) or size < 5 or data[-1] != 0:
        raise ValueError(f"corrupt BSON document: declares {size} bytes, has {len(data)}")
    pos, end = 4, size - 1
    while pos < end:
        kind = data[pos]
        key_end = _cstring_end(data, pos + 1)
        value_start = key_end + 1
        value_end = value_start + _value_length(data, kind, value_start)
        if value_end > end:
            raise ValueError(f"corrupt BSON document: field at offset {pos} runs past the end")
        yield Element(
            data[pos + 1 : key_end].decode("utf-8", "replace"), kind, data[pos:value_end], data[value_start:value_end]
        )
        pos = value_end


def split_batch(batch: bytes) -> Iterator[bytes]:
    """Yield the documents of a raw batch as ``bytes`` (see ``backup.digest.split_batch``)."""
    return map(bytes, documents_of(batch))


def canonical_digest(document: bytes) -> bytes:
    """Return 16 bytes identifying the document's content, top-level field order aside."""
    parts = sorted(e.raw for e in elements(document))
    return blake2b(b"".join(parts), digest_size=16).digest()


def id_key(document: bytes) -> bytes:
    """Return the raw ``_id`` element (type and value bytes) identifying a document, or b"" if it has none."""
    for element in elements(document):
        if element.key == "_id":
            return element.raw[:1] + element.value
    return b""


def decode_value(kind: int, value: bytes) -> Any:
    """Return the Python value of one raw BSON value (its type byte and value bytes)."""
    body = bytes([kind]) + b"v\x00" + value
    doc = (len(body) + 5).to_bytes(4, "little") + body + b"\x00"
    return bson.decode(doc, codec_options=DISPLAY_OPTIONS)["v"]


def show_id(key: bytes) -> str:
    """Return a readable ``_id`` from ``id_key``'s bytes."""
    if not key:
        return "(no _id)"
    return _short(repr(decode_value(key[0], key[1:])))


def show(element: Element | None) -> str:
    """Return a value as a person reads it, with its BSON type: ``3 (int)``, ``'a' (string)``."""
    if element is None:
        return ABSENT
    try:
        text = repr(decode_value(element.type, element.value))
    except Exception:  # an exotic value (e.g. an invalid UTF-8 string): show its bytes
        text = element.value.hex()
    return f"{_short(text)} ({TYPE_NAMES.get(element.type, hex(element.type))})"


def _short(text: str) -> str:
    return text if len(text) <= MAX_SHOWN else text[: MAX_SHOWN - 1] + "…"


@dataclass(frozen=True)
class FieldChange:
    """One difference inside a document: the field path and the value before and after (or absent)."""

    path: str
    before: str
    after: str

    def line(self) -> str:
        """Return ``path: before → after``."""
        return f"{self.path}: {self.before} → {self.after}"


def field_changes(before: bytes, after: bytes, *, limit: int = 20, top_level: bool = True) -> list[FieldChange]:
    """Return the differing fields of two raw documents, as paths (``a.b.0.c``), at most ``limit``.

    At the top level field order does not count; inside nested documents it does, and a nested
    document with the same fields in another order is reported as ``(field order …)``.
    """
    out: list[FieldChange] = []
    _diff(before, after, "", out, limit, top_level)
    return out[:limit]


def _diff(before: bytes, after: bytes, prefix: str, out: list[FieldChange], limit: int, top_level: bool) -> None:
    old = {e.key: e for e in elements(before)}
    new = {e.key: e for e in elements(after)}
    for key in [*old, *(k for k in new if k not in old)]:
        if len(out) >= limit:
            return
        a, b = old.get(key), new.get(key)
        path = f"{prefix}{key}"
        if a is not None and b is not None and a.raw == b.raw:
            continue
        if a is not None and b is not None and a.type == b.type and a.type in (0x03, 0x04):
            _diff(a.value, b.value, path + ".", out, limit, top_level=False)
            continue
        out.append(FieldChange(path, show(a), show(b)))
    if not top_level and list(old) != list(new) and set(old) == set(new) and len(out) < limit:
        label = prefix[:-1] or "(document)"
        out.append(FieldChange(label, f"(field order {', '.join(old)})", f"(field order {', '.join(new)})"))
