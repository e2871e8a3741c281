"""The source side of every backup: one reader of raw batches, whatever the destination.

A copy to another server and a dump to files read the source the same way: a cursor over one
``_id`` range of a collection (the whole collection for a dump), in ``$natural`` order for a capped
collection (its insertion order is part of it), batches of raw BSON never decoded, each batch's
``Digest`` computed as it arrives (the source side of the verification). What happens to the
batches is the destination's business (``destination.Destination``).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator

from bson import CodecOptions
from bson.raw_bson import RawBSONDocument
from pymongo.asynchronous.collection import AsyncCollection

from analytiq_data.backup.digest import Digest, digest_documents
from analytiq_data.backup.endpoints import Side
from analytiq_data.backup.plan import IdRange, Intent, Kind

RAW: CodecOptions[RawBSONDocument] = CodecOptions(document_class=RawBSONDocument)
WHOLE = IdRange(0)

Batch = tuple[list[RawBSONDocument], Digest]


def raw_collection(side: Side, name: str) -> AsyncCollection[RawBSONDocument]:
    """Return ``name`` on ``side`` reading and writing raw BSON documents."""
    return side.db.get_collection(name, codec_options=RAW)


async def read_batches(
    side: Side, intent: Intent, rng: IdRange = WHOLE, *, batch_size: int
) -> AsyncGenerator[Batch, None]:
    """Yield the documents of range ``rng`` of ``intent`` in batches of up to ``batch_size``, each with its digest.

    A capped collection is read in ``$natural`` order. Nothing is sent to the server before the
    first batch is asked for (a caller may wait for its turn first). Driver errors pass through:
    the caller wraps them (``Side.errors``) with what it was doing. Close the iterator
    (``contextlib.aclosing``) to close the cursor early.
    """
    cursor = raw_collection(side, intent.name).find(rng.filter(), batch_size=batch_size)
    if intent.kind is Kind.CAPPED:
        cursor = cursor.hint([("$natural", 1)])
    try:
        while docs := await cursor.to_list(batch_size):
            yield docs, digest_documents(docs)
    finally:
        await cursor.close()
