"""Moving documents: a reader per ``_id`` range feeding a writer through a small queue.

Documents travel as raw BSON (``RawBSONDocument``): never decoded, re-encoded by copying bytes.
The reader hashes each batch as it arrives (the source side of the verification) and hands it
to the writers, so the next read overlaps the current write. How many inserts are in flight, across
all ranges, is chosen while copying by a ``WritePacer`` (``pacing.py``: as many as the destination
absorbs, at most ``--parallel``). Across all ranges at most ``parallel * READ_AHEAD`` batches are
read and not yet written (``Flow``), which bounds memory at about ``batch_size * parallel *
READ_AHEAD`` documents whatever the size of the database. Writes are unordered ``insert_many``
batches, except for capped collections: one reader in ``$natural`` order and one writer with
ordered inserts, so the copy keeps the insertion order a capped collection depends on.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from typing import Any, TypeVar

from bson import CodecOptions
from bson.raw_bson import RawBSONDocument
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import BulkWriteError

from analytiq_data.backup import ddl
from analytiq_data.backup.batches import Turnstile
from analytiq_data.backup.digest import Digest, digest_documents
from analytiq_data.backup.endpoints import Side
from analytiq_data.backup.pacing import Gate, WritePacer
from analytiq_data.backup.plan import IdRange, Intent, Kind

T = TypeVar("T")
RAW: CodecOptions[RawBSONDocument] = CodecOptions(document_class=RawBSONDocument)
#: Batches per unit of ``--parallel`` that may be read and not yet written (the read-ahead budget).
READ_AHEAD = 4

#: How long a stopping run waits for the answer to a batch it already sent (seconds).
DRAIN_S = 60.0
#: The server's error code for a duplicate key.
DUPLICATE_KEY = 11000

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


class Flow:
    """What every range of a run shares: read-ahead budget, turnstile for opening cursors, write pacer.

    At most ``parallel * READ_AHEAD`` batches are read and not yet written, across all ranges,
    and one range may hold at most half of them: memory stays bounded by batch size times
    parallelism, while a small collection can be read ahead whole and keep the destination busy
    as the source prepares the next big scan. Inserts in flight, across all ranges, are paced:
    at most as many as the pacer's level (1 to ``parallel``, chosen while copying).
    """

    def __init__(self, parallel: int, pacer: WritePacer | None = None) -> None:
        self.budget = asyncio.Semaphore(parallel * READ_AHEAD)
        self.per_range = max(2, parallel * READ_AHEAD // 2)
        self.gate = Turnstile()
        self.pacer = pacer or WritePacer.starting_now(parallel)
        self.writers = parallel  # writer tasks per range: the pacer decides how many insert at once


async def copy_range(
    src: Side,
    dst: Side,
    intent: Intent,
    rng: IdRange,
    *,
    batch_size: int,
    advance: Advance,
    flow: Flow | None = None,
) -> Digest:
    """Copy one ``_id`` range of ``intent`` and return the digest of the documents read from the source.

    The reader opens its cursor in turn (smaller ranges first) and keeps the turn while it can
    read ahead; the writers insert what it read, batch by batch.
    """
    return await _RangeCopy(src, dst, intent, rng, batch_size, advance, flow or Flow(1)).run()


class _RangeCopy:
    """One range in flight: a reader feeding its writers through a queue, within the run's budget."""

    def __init__(
        self, src: Side, dst: Side, intent: Intent, rng: IdRange, batch_size: int, advance: Advance, flow: Flow
    ) -> None:
        self.src, self.dst, self.intent, self.rng = src, dst, intent, rng
        self.batch_size, self.advance, self.flow = batch_size, advance, flow
        self.queue: asyncio.Queue[tuple[list[RawBSONDocument], int] | None] = asyncio.Queue(maxsize=flow.per_range)
        self.digest = Digest()
        self.held = 0  # read-ahead units this range holds
        self.capped = intent.kind is Kind.CAPPED
        self.what = f"copying {intent.name!r}"

    async def run(self) -> Digest:
        writers = 1 if self.capped else self.flow.writers
        try:
            await gather_all([self.read(), *(self.write() for _ in range(writers))])
        finally:
            for _ in range(self.held):
                self.flow.budget.release()
        return self.digest

    async def read(self) -> None:
        cursor = raw_collection(self.src, self.intent.name).find(self.rng.filter(), batch_size=self.batch_size)
        if self.capped:
            cursor = cursor.hint([("$natural", 1)])
        gate = self.flow.gate
        await gate.acquire(self.intent.count // max(len(self.intent.ranges), 1))
        turn = True
        try:
            async with self.src.errors(self.what):
                while True:
                    if turn and (self.flow.budget.locked() or self.queue.full()):
                        gate.release()  # we would wait: let another reader open its cursor
                        turn = False
                    await self.flow.budget.acquire()
                    self.held += 1
                    docs = await cursor.to_list(self.batch_size)
                    if not docs:
                        break
                    part = digest_documents(docs)
                    self.digest += part
                    await self.queue.put((docs, part.nbytes))
        finally:
            if turn:
                gate.release()
            await cursor.close()
        await self.queue.put(None)

    async def write(self) -> None:
        target = raw_collection(self.dst, self.intent.name)
        while (item := await self.queue.get()) is not None:
            docs, nbytes = item
            async with self.dst.errors(self.what):
                insert = functools.partial(insert_batch, target, docs, ordered=self.capped)
                await self.flow.pacer.run(insert, len(docs), nbytes)
            self.held -= 1
            self.flow.budget.release()
            self.advance(len(docs), nbytes)
        await self.queue.put(None)  # let the other writers of this range stop too


async def insert_batch(target: AsyncCollection[RawBSONDocument], docs: list[RawBSONDocument], *, ordered: bool) -> None:
    """Insert one batch so that nothing of it lands after this run stops, and so that re-inserting is safe.

    Cancelled (Ctrl-C) while the batch is on its way, it waits for the server's answer before
    stopping: a batch the server is still executing would otherwise land after the run ended,
    possibly after a ``--resume`` cleared its range. Documents of an earlier run that still landed
    that way (the run was killed) meet a duplicate ``_id``: the document already there is kept when
    it is byte for byte the one being inserted, and replaced by it otherwise (see ``_settle``).
    """
    sent = asyncio.ensure_future(_insert_settled(target, docs, ordered))
    try:
        await asyncio.shield(sent)
    except asyncio.CancelledError:
        await asyncio.wait([sent], timeout=DRAIN_S)  # the batch is on the server: let its answer arrive
        if not sent.done():
            sent.cancel()  # a hung server: stop anyway (a resume copes with the batch landing later)
        elif not sent.cancelled():
            sent.exception()  # retrieved: the run is stopping anyway
        raise


async def _insert_settled(target: AsyncCollection[RawBSONDocument], docs: list[RawBSONDocument], ordered: bool) -> None:
    while docs:
        try:
            await target.insert_many(docs, ordered=ordered)
            return
        except BulkWriteError as exc:
            errors = exc.details.get("writeErrors") or []
            if not errors or any(not _duplicate_id(e) for e in errors):
                raise
            for error in errors:
                await _settle(target, docs[int(error["index"])])
            if not ordered:
                return  # an unordered batch inserted every other document
            docs = docs[int(errors[-1]["index"]) + 1 :]  # an ordered one stopped at its error


def _duplicate_id(error: dict[str, Any]) -> bool:
    """Return whether a write error is a duplicate ``_id`` (not another unique index)."""
    if error.get("code") != DUPLICATE_KEY:
        return False
    key = error.get("keyPattern") or error.get("keyValue") or {"_id": 1}
    return list(key) == ["_id"]


async def _settle(target: AsyncCollection[RawBSONDocument], doc: RawBSONDocument) -> None:
    """Make the destination's document with ``doc``'s ``_id`` be exactly ``doc`` (a range is copied whole).

    The verification still counts and hashes the whole collection afterwards, so a document an
    earlier run left that the source no longer has shows as a difference, never as a silent extra.
    """
    query = {"_id": doc["_id"]}
    found = await target.find_one(query)
    if found is None:
        await target.insert_one(doc)
    elif found.raw != doc.raw:
        await target.replace_one(query, doc)


async def create_collection(dst: Side, intent: Intent) -> None:
    """Create ``intent``'s collection on the destination with its options, bar validator and TTL."""
    async with dst.errors(f"creating {intent.name!r}"):
        await ddl.create(dst.db, intent.name, intent.options)


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


async def bounded(slots: asyncio.Semaphore | Gate, work: Callable[[], Awaitable[Any]]) -> Any:
    """Run ``work`` holding one of the ``--parallel`` slots."""
    async with slots:
        return await work()
