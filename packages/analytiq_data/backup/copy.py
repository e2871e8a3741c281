"""Moving documents: a reader per ``_id`` range feeding a writer through a small queue.

Documents travel as raw BSON (``RawBSONDocument``): never decoded, re-encoded by copying bytes.
The reader hashes each batch as it arrives (the source side of the verification) and hands it
to the writer, so the next read overlaps the current write; at most ``QUEUE_DEPTH`` batches wait
per range, which bounds memory at about ``batch_size * parallel * (QUEUE_DEPTH + 2)`` documents.
Writes are unordered ``insert_many`` batches, except for capped collections: one reader in
``$natural`` order and ordered inserts, so the copy keeps the insertion order a capped collection
depends on.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from typing import Any, TypeVar, cast

from bson import CodecOptions, decode_all
from bson.raw_bson import RawBSONDocument
from bson.son import SON
from pymongo.asynchronous.collection import AsyncCollection

from analytiq_data.backup.digest import Digest, digest_batch
from analytiq_data.backup.endpoints import Side
from analytiq_data.backup.plan import IdRange, Intent, Kind, creation_options

T = TypeVar("T")
RAW: CodecOptions[RawBSONDocument] = CodecOptions(document_class=RawBSONDocument)
QUEUE_DEPTH = 2

Advance = Callable[[int, int], None]


async def gather_all(coros: Iterable[Coroutine[Any, Any, T]]) -> list[T]:
    """Run coroutines concurrently and return their results in order.

    If one fails (or this call is cancelled), the others are cancelled and awaited before the
    error propagates, so nothing keeps running against a closed client.
    """
    tasks = [asyncio.ensure_future(c) for c in coros]
    if not tasks:
        return []
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
        for task in tasks:
            if task.done() and not task.cancelled() and task.exception() is not None:
                raise task.exception()  # type: ignore[misc]
        return [task.result() for task in tasks]
    finally:
        for task in tasks:
            if not task.done():
                task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def raw_collection(side: Side, name: str) -> AsyncCollection[RawBSONDocument]:
    """Return ``name`` on ``side`` reading and writing raw BSON documents."""
    return side.db.get_collection(name, codec_options=RAW)


async def copy_range(
    src: Side, dst: Side, intent: Intent, rng: IdRange, *, batch_size: int, advance: Advance
) -> Digest:
    """Copy one ``_id`` range of ``intent`` and return the digest of the documents read from the source."""
    queue: asyncio.Queue[tuple[list[RawBSONDocument], int] | None] = asyncio.Queue(maxsize=QUEUE_DEPTH)
    digest = Digest()
    capped = intent.kind is Kind.CAPPED
    what = f"copying {intent.name!r}"

    async def read() -> None:
        nonlocal digest
        cursor = raw_collection(src, intent.name).find_raw_batches(rng.filter(), batch_size=batch_size)
        if capped:
            cursor = cursor.hint([("$natural", 1)])
        async with src.errors(what):
            async for batch in cursor:
                raw = cast(bytes, batch)  # raw batch cursors yield bytes, whatever their annotation says
                part = digest_batch(raw)
                if part.count:
                    digest += part
                    await queue.put((decode_all(raw, RAW), part.nbytes))
        await queue.put(None)

    async def write() -> None:
        target = raw_collection(dst, intent.name)
        while (item := await queue.get()) is not None:
            docs, nbytes = item
            async with dst.errors(what):
                await target.insert_many(docs, ordered=capped)
            advance(len(docs), nbytes)

    await gather_all([read(), write()])
    return digest


async def create_collection(dst: Side, intent: Intent) -> None:
    """Create ``intent``'s collection on the destination with its options, bar validator and TTL."""
    command = SON([("create", intent.name), *creation_options(intent.options).items()])
    async with dst.errors(f"creating {intent.name!r}"):
        await dst.db.command(command)


async def clear_ranges(dst: Side, intent: Intent, ranges: list[IdRange]) -> None:
    """Remove from the destination what an interrupted run may have written of ``ranges``.

    A whole-collection range is cleared by dropping and recreating the collection (this also
    works for capped and time-series collections); a bounded range by deleting its ``_id``s.
    """
    whole = [r for r in ranges if not r.bounded]
    async with dst.errors(f"clearing the unfinished part of {intent.name!r}"):
        if whole:
            await dst.db.drop_collection(intent.name)
            await create_collection(dst, intent)
            return
        for rng in ranges:
            await dst.db[intent.name].delete_many(rng.filter())


async def bounded(slots: asyncio.Semaphore, work: Callable[[], Awaitable[Any]]) -> Any:
    """Run ``work`` holding one of the ``--parallel`` slots."""
    async with slots:
        return await work()
