"""The content digest: order-independent, byte-exact, and the same whether computed per batch or per document."""

from __future__ import annotations

import random

import pytest
from bson import CodecOptions, decode_all, encode
from bson.raw_bson import RawBSONDocument

from analytiq_data.backup.digest import Digest, digest_batch, digest_documents

RAW: CodecOptions[RawBSONDocument] = CodecOptions(document_class=RawBSONDocument)


def docs(n: int) -> list[bytes]:
    return [encode({"_id": i, "v": "x" * (i % 7), "f": i / 3}) for i in range(n)]


def test_order_does_not_matter_and_batches_add_up() -> None:
    encoded = docs(50)
    shuffled = encoded[:]
    random.Random(3).shuffle(shuffled)
    whole = digest_batch(b"".join(encoded))
    parts = digest_batch(b"".join(shuffled[:20])) + digest_batch(b"".join(shuffled[20:]))
    assert whole == parts
    assert whole.count == 50
    assert whole.nbytes == sum(map(len, encoded))


def test_batch_and_documents_agree() -> None:
    batch = b"".join(docs(10))
    assert digest_documents(decode_all(batch, RAW)) == digest_batch(batch)


def test_one_changed_byte_changes_the_hash() -> None:
    a = encode({"_id": 1, "v": 1.0})
    b = encode({"_id": 1, "v": -1.0})
    assert len(a) == len(b)
    assert not digest_batch(a).matches(digest_batch(b))


def test_duplicates_do_not_cancel() -> None:
    one = encode({"_id": 1})
    two = encode({"_id": 2})
    assert digest_batch(one + one + two).total != digest_batch(two).total
    assert not digest_batch(one + one).matches(Digest())


def test_field_order_is_content() -> None:
    assert not digest_batch(encode({"a": 1, "b": 2})).matches(digest_batch(encode({"b": 2, "a": 1})))


def test_round_trip_through_a_stored_document() -> None:
    digest = digest_batch(b"".join(docs(5)))
    assert Digest.from_doc(digest.to_doc()) == digest
    assert len(digest.hex) == 32


def test_corrupt_batch_is_refused() -> None:
    with pytest.raises(ValueError, match="corrupt BSON batch"):
        digest_batch(encode({"a": 1})[:-3])
