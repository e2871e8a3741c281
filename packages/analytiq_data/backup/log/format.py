"""Framing of the log's records: ``length:uint32 crc64:uint64 payload`` (little-endian), payload one BSON document.

Pure code, no I/O beyond a bytes buffer: tested without a server. A reader stops at the first
record that is not whole (short prefix, length past the end, CRC mismatch, BSON length disagreeing)
and says where the whole part ends, so a torn tail can be cut there.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from bson import json_util
from bson.timestamp import Timestamp

from analytiq_data.backup.files.crc64 import crc64

#: The first 8 bytes of every segment file: a name and the format version (1).
MAGIC = b"ADBLOG\x00\x01"
FORMAT_VERSION = 1
_PREFIX = struct.Struct("<IQ")
PREFIX_SIZE = _PREFIX.size
#: A record larger than this is taken as a torn length (16 MiB BSON limit plus a margin).
MAX_RECORD = 48 * 1024 * 1024
#: The largest increment of a cluster time second (an ISO wall time means the whole second).
MAX_INC = 0xFFFFFFFF


def frame(payload: bytes) -> bytes:
    """Return ``payload`` (one BSON document) framed as a record: its length, its CRC-64, itself."""
    return _PREFIX.pack(len(payload), crc64(payload)) + payload


@dataclass(frozen=True)
class Scan:
    """What a read of framed records found: the payloads, where the whole part ends, and why it ended early."""

    payloads: list[bytes]
    end: int
    torn: str | None = None


def scan(data: bytes | memoryview, start: int = 0) -> Scan:
    """Return the whole records of ``data`` from ``start`` and the offset just after the last one."""
    view = memoryview(data)
    pos, size = start, len(view)
    out: list[bytes] = []
    while pos < size:
        if size - pos < PREFIX_SIZE:
            return Scan(out, pos, f"a record prefix cut short at byte {pos}")
        length, crc = _PREFIX.unpack_from(view, pos)
        body = pos + PREFIX_SIZE
        if length < 5 or length > MAX_RECORD or body + length > size:
            return Scan(out, pos, f"a record at byte {pos} runs past the end of the file")
        payload = bytes(view[body : body + length])
        if crc64(payload) != crc or int.from_bytes(payload[:4], "little") != length:
            return Scan(out, pos, f"the record at byte {pos} fails its CRC-64 check")
        out.append(payload)
        pos = body + length
    return Scan(out, pos)


def records(data: bytes) -> Iterator[bytes]:
    """Yield the payloads of ``data``'s whole records (stops silently at a torn tail)."""
    yield from scan(data).payloads


def ts_doc(ts: Timestamp | None) -> dict[str, int] | None:
    """Return a cluster time as JSON data ``{"t": s, "i": i}`` (None stays None)."""
    return None if ts is None else {"t": ts.time, "i": ts.inc}


def ts_of(value: Mapping[str, Any] | None) -> Timestamp | None:
    """Return the cluster time of JSON data ``{"t": s, "i": i}`` (None stays None)."""
    if value is None:
        return None
    return Timestamp(int(value["t"]), int(value["i"]))


def previous(ts: Timestamp) -> Timestamp:
    """Return the cluster time just before ``ts`` (one increment earlier)."""
    if ts.inc > 0:
        return Timestamp(ts.time, ts.inc - 1)
    return Timestamp(ts.time - 1, MAX_INC)


def token_out(token: Mapping[str, Any] | None) -> Any:
    """Return a resume token as JSON data (Extended JSON for anything beyond strings)."""
    return None if token is None else json.loads(json_util.dumps(token))


def token_in(value: Any) -> dict[str, Any] | None:
    """Return a resume token read from the catalog."""
    return None if value is None else dict(json_util.loads(json.dumps(value)))
