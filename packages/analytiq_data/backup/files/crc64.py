"""CRC-64 as mongodump's archive computes it: Go's ``crc64.ECMA`` table (CRC-64/XZ).

The parameters are the reflected ECMA-182 polynomial with an all-ones initial value and final
XOR, the checksum the xz file format also uses. The archive stores it as a signed int64. The work
is done by ``fastcrc`` (Rust, about 500 MB/s here); ``crc64_reference`` is the table-driven pure
Python version (about 1 MB/s), kept as the oracle the tests check ``fastcrc`` against.
"""

from __future__ import annotations

from fastcrc import crc64 as _fast

#: The reflected ECMA-182 polynomial (Go: ``crc64.ECMA``).
POLY_REFLECTED = 0xC96C5795D7870F42
MASK = (1 << 64) - 1
#: CRC-64/XZ of b"123456789" (the RevEng catalogue's check value).
CHECK_VALUE = 0x995DC9BBDF1939FA


def _table() -> tuple[int, ...]:
    out = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ POLY_REFLECTED if c & 1 else c >> 1
        out.append(c)
    return tuple(out)


_TABLE = _table()


def crc64(data: bytes | bytearray | memoryview, crc: int = 0) -> int:
    """Return the CRC-64 of ``data`` continuing from ``crc`` (the CRC of what came before; 0 to start)."""
    return _fast.xz(data, crc)


def crc64_reference(data: bytes, crc: int = 0) -> int:
    """Return the same CRC as ``crc64``, computed byte by byte in pure Python (slow; for tests)."""
    crc ^= MASK
    table = _TABLE
    for byte in data:
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ MASK


def to_int64(crc: int) -> int:
    """Return an unsigned 64-bit CRC as the signed int64 the archive stores."""
    return crc - (1 << 64) if crc >= 1 << 63 else crc


def from_int64(value: int) -> int:
    """Return the unsigned 64-bit CRC of an int64 read from an archive."""
    return value & MASK
