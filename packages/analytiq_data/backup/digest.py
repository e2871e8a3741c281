"""An order-independent fingerprint of a set of documents, computed over their raw BSON bytes.

Each document's bytes are hashed with BLAKE2b (128 bits); the fingerprint is the document count,
the byte count and the sum of the per-document hashes modulo 2**128. A sum does not depend on the
order documents arrive in, so the source (hashed while it is read, in ranges, in any order) and the
destination (read back in one scan) can be compared; unlike XOR it does not cancel duplicated
documents. Any changed byte in any document changes the sum (with overwhelming probability).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import partial
from hashlib import blake2b
from operator import attrgetter, methodcaller
from typing import Any

from bson.raw_bson import RawBSONDocument

MODULUS = 1 << 128
_raw_of = attrgetter("raw")


@dataclass(frozen=True)
class Digest:
    """Count, bytes and content hash of a set of documents; ``a + b`` is the digest of both sets."""

    count: int = 0
    nbytes: int = 0
    total: int = 0

    def __add__(self, other: Digest) -> Digest:
        return Digest(self.count + other.count, self.nbytes + other.nbytes, (self.total + other.total) % MODULUS)

    @property
    def hex(self) -> str:
        """Return the content hash as 32 hex digits."""
        return f"{self.total:032x}"

    def matches(self, other: Digest) -> bool:
        """Return whether both sets have the same documents (count and content hash)."""
        return self.count == other.count and self.total == other.total

    def to_doc(self) -> dict[str, Any]:
        """Return the digest as a BSON-storable document (the hash as 16 bytes)."""
        return {"count": self.count, "nbytes": self.nbytes, "hash": self.total.to_bytes(16, "little")}

    @classmethod
    def from_doc(cls, doc: Mapping[str, Any]) -> Digest:
        """Return the digest stored by ``to_doc``."""
        return cls(int(doc["count"]), int(doc["nbytes"]), int.from_bytes(bytes(doc["hash"]), "little"))


_hasher = partial(blake2b, digest_size=16)
_digest_of = methodcaller("digest")
_to_int = partial(int.from_bytes, byteorder="little")


def _document_hash(raw: bytes | memoryview) -> int:
    return int.from_bytes(blake2b(raw, digest_size=16).digest(), "little")


def digest_documents(docs: Iterable[RawBSONDocument]) -> Digest:
    """Return the digest of raw documents (their bytes as stored; nothing is decoded)."""
    raws = list(map(_raw_of, docs))
    # map() over C callables: no Python frame per document.
    total = sum(map(_to_int, map(_digest_of, map(_hasher, raws)))) % MODULUS
    return Digest(len(raws), sum(map(len, raws)), total)


def split_batch(batch: bytes) -> Iterator[memoryview]:
    """Yield the documents of a raw batch (BSON documents laid end to end, as a server sends them).

    Each is a view into ``batch`` (``bytes(view)`` copies it). Raise ValueError on a batch whose
    length prefixes do not add up.
    """
    view = memoryview(batch)
    end = len(view)
    pos = 0
    while pos < end:
        size = int.from_bytes(view[pos : pos + 4], "little")
        if size < 5 or pos + size > end:
            raise ValueError(f"corrupt BSON batch: document of {size} bytes at offset {pos} of {end}")
        yield view[pos : pos + size]
        pos += size


def digest_batch(batch: bytes) -> Digest:
    """Return the digest of a raw batch: BSON documents laid end to end, as a server sends them."""
    count = total = 0
    for document in split_batch(batch):
        total += _document_hash(document)
        count += 1
    return Digest(count, len(batch), total % MODULUS)
