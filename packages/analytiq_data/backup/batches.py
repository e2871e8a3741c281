"""Reading a collection as batches of raw documents, opening one cursor at a time.

On some servers the first batch of a cursor is the expensive part (SecantusDB evaluates the whole
query before answering it; mongod answers at once). Readers therefore open their cursors one at a
time through a ``Turnstile``, smallest first: small collections start flowing to the destination
while the source prepares the big scans, instead of every scan competing at once. On mongod the
turnstile costs a few milliseconds.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import AsyncIterator, Mapping
from typing import Any

from bson.raw_bson import RawBSONDocument
from pymongo.asynchronous.collection import AsyncCollection

#: Event-loop turns a free turnstile waits so that readers starting together are ordered by priority.
SETTLE_STEPS = 3


class Turnstile:
    """A lock granted to the waiter with the lowest priority number first (FIFO among equals)."""

    def __init__(self) -> None:
        self._held = False
        self._waiting: list[tuple[int, int, asyncio.Event]] = []
        self._order = itertools.count()

    async def acquire(self, priority: int) -> None:
        """Wait for the turn; lower ``priority`` goes first, also among readers starting together."""
        entry = (priority, next(self._order), asyncio.Event())
        heapq.heappush(self._waiting, entry)
        try:
            if not self._held:
                for _ in range(SETTLE_STEPS):  # let readers started in the same moment queue up
                    await asyncio.sleep(0)
                if not self._held:
                    self._held = True
                    heapq.heappop(self._waiting)[2].set()
            await entry[2].wait()
        except asyncio.CancelledError:
            if entry[2].is_set():
                self.release()  # the turn was handed to us: pass it on
            else:
                self._waiting.remove(entry)
                heapq.heapify(self._waiting)
            raise

    def release(self) -> None:
        """End the turn, handing it to the next waiter if any."""
        if self._waiting:
            heapq.heappop(self._waiting)[2].set()
        else:
            self._held = False


async def raw_batches(
    coll: AsyncCollection[RawBSONDocument],
    query: Mapping[str, Any],
    *,
    batch_size: int,
    natural: bool = False,
    gate: Turnstile | None = None,
    priority: int = 0,
) -> AsyncIterator[list[RawBSONDocument]]:
    """Yield the documents matching ``query`` in server batches of up to ``batch_size`` raw documents.

    ``natural`` reads in ``$natural`` (insertion) order. With a ``gate``, the cursor's first batch
    is fetched during this reader's turn.
    """
    cursor = coll.find(query, batch_size=batch_size)
    if natural:
        cursor = cursor.hint([("$natural", 1)])
    try:
        if gate is not None:
            await gate.acquire(priority)
            try:
                docs = await cursor.to_list(batch_size)
            finally:
                gate.release()
        else:
            docs = await cursor.to_list(batch_size)
        while docs:
            yield docs
            docs = await cursor.to_list(batch_size)
    finally:
        await cursor.close()
