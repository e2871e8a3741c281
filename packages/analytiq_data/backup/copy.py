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
import contextlib
import functools
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from typing import Any, TypeVar

from bson.raw_bson import RawBSONDocument

from analytiq_data.backup.batches import Turnstile
from analytiq_data.backup.destination import Destination, ServerDestination
from analytiq_data.backup.destination import insert_batch as insert_batch
from analytiq_data.backup.digest import Digest
from analytiq_data.backup.endpoints import Side
from analytiq_data.backup.pacing import Gate, WritePacer
from analytiq_data.backup.plan import IdRange, Intent, Kind
from analytiq_data.backup.reader import RAW as RAW
from analytiq_data.backup.reader import raw_collection as raw_collection
from analytiq_data.backup.reader import read_batches
from analytiq_data.backup.reconcile import SeenIds

T = TypeVar("T")
#: Batches per unit of ``--parallel`` that may be read and not yet written (the read-ahead budget).
READ_AHEAD = 4

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
    destination: Destination | None = None,
    seen: SeenIds | None = None,
) -> Digest:
    """Copy one ``_id`` range of ``intent`` and return the digest of the documents read from the source.

    The reader (``reader.read_batches``) opens its cursor in turn (smaller ranges first) and keeps
    the turn while it can read ahead; the writers hand what it read, batch by batch, to
    ``destination`` (default: the database of ``dst``). With ``seen``, the ``_id``s read are added
    to it (a resumed range: see ``reconcile``).
    """
    to = destination or ServerDestination(dst)
    return await _RangeCopy(src, to, intent, rng, batch_size, advance, flow or Flow(1), seen).run()


class _RangeCopy:
    """One range in flight: a reader feeding its writers through a queue, within the run's budget."""

    def __init__(
        self,
        src: Side,
        dst: Destination,
        intent: Intent,
        rng: IdRange,
        batch_size: int,
        advance: Advance,
        flow: Flow,
        seen: SeenIds | None = None,
    ) -> None:
        self.src, self.dst, self.intent, self.rng, self.seen = src, dst, intent, rng, seen
        self.batch_size, self.advance, self.flow = batch_size, advance, flow
        self.queue: asyncio.Queue[tuple[list[RawBSONDocument], int] | None] = asyncio.Queue(maxsize=flow.per_range)
        self.digest = Digest()
        self.held = 0  # read-ahead units this range holds
        self.turn = False  # whether this range holds the turnstile (its cursor is opening)
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
        gate = self.flow.gate
        await gate.acquire(self.intent.count // max(len(self.intent.ranges), 1))
        self.turn = True
        batches = read_batches(self.src, self.intent, self.rng, batch_size=self.batch_size)
        try:
            async with self.src.errors(self.what), contextlib.aclosing(batches):
                await self._reserve()
                async for docs, part in batches:
                    self.digest += part
                    if self.seen is not None:
                        self.seen.add(docs)
                    await self.queue.put((docs, part.nbytes))
                    await self._reserve()
        finally:
            if self.turn:
                gate.release()
        await self.queue.put(None)

    async def _reserve(self) -> None:
        """Take one read-ahead unit for the next batch, first passing the turn on if we would wait."""
        if self.turn and (self.flow.budget.locked() or self.queue.full()):
            self.flow.gate.release()  # we would wait: let another reader open its cursor
            self.turn = False
        await self.flow.budget.acquire()
        self.held += 1

    async def write(self) -> None:
        while (item := await self.queue.get()) is not None:
            docs, nbytes = item
            insert = functools.partial(self.dst.write_batch, self.intent, docs)
            await self.flow.pacer.run(insert, len(docs), nbytes)
            self.held -= 1
            self.flow.budget.release()
            self.advance(len(docs), nbytes)
        await self.queue.put(None)  # let the other writers of this range stop too


async def create_collection(dst: Side, intent: Intent) -> None:
    """Create ``intent``'s collection on the destination with its options, bar validator and TTL."""
    await ServerDestination(dst).create_collection(intent)


async def clear_ranges(dst: Side, intent: Intent, ranges: list[IdRange]) -> None:
    """Delete from the destination what an interrupted run may have written of ``ranges`` (time-series only).

    Only a collection without a unique ``_id`` index (time-series) is cleared before a resume copies
    its ranges again; every other kind is reconciled in place (``reconcile``). Never a drop: the
    collection keeps its options, and a late insert of the stopped run cannot recreate it without them.
    """
    async with dst.errors(f"clearing the unfinished part of {intent.name!r}"):
        for rng in ranges:
            await dst.db[intent.dest].delete_many(rng.filter())


async def bounded(slots: asyncio.Semaphore | Gate, work: Callable[[], Awaitable[Any]]) -> Any:
    """Run ``work`` holding one of the ``--parallel`` slots."""
    async with slots:
        return await work()
