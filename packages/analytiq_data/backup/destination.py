"""Where a backup goes, behind one small interface: another server, or mongodump's files.

The reading side is the same for every backup (``reader.read_batches``); a run differs only in
the ``Destination`` it hands the batches to. A destination is told, per namespace: create it
(``create_collection``), take its documents (``write_batch``, possibly from several ranges at
once), build its indexes (``create_indexes``), and ``finish`` it (deferred options, or the end of
its file). Each returns the differences it found instead of raising when the destination refuses a
definition (an index a server will not build is reported, not a crash).

``ServerDestination`` writes to a database (``Side``); ``files.destination.FileDestination`` writes an
archive or a dump directory.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Mapping, Sequence
from typing import Any, Protocol

from bson.raw_bson import RawBSONDocument
from pymongo import errors as pm_errors
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import BulkWriteError

from analytiq_data.backup import ddl
from analytiq_data.backup.catalog import collection_options
from analytiq_data.backup.endpoints import Side
from analytiq_data.backup.plan import IdRange, Intent, Kind
from analytiq_data.backup.reader import raw_collection
from analytiq_data.backup.reconcile import SeenIds, remove_unread, settle

#: How long a stopping run waits for the answer to a batch it already sent (seconds).
DRAIN_S = 60.0
#: The server's error code for a duplicate key.
DUPLICATE_KEY = 11000
#: Rounds of insert-then-settle a batch gets before the copy gives up (documents changing meanwhile).
SETTLE_ROUNDS = 5


class Destination(Protocol):
    """What a backup writes to: namespaces created, batches written, indexes built, each finished."""

    async def create_collection(self, intent: Intent) -> list[str]:
        """Create ``intent``'s collection or view (options but the deferred ones); return differences."""
        ...

    async def write_batch(self, intent: Intent, docs: list[RawBSONDocument]) -> None:
        """Write one batch of ``intent``'s raw documents (in order for a capped collection)."""
        ...

    async def create_indexes(self, intent: Intent, specs: Sequence[Mapping[str, Any]]) -> list[str]:
        """Build ``specs`` on ``intent``'s collection; return those that could not be built."""
        ...

    async def finish(self, intent: Intent) -> list[str]:
        """Complete ``intent``'s namespace (validator and TTL, or the end of its file); return differences."""
        ...


def _said(exc: BaseException) -> str:
    return str(exc).split(", full error")[0]


async def _refused(side: Side, doing: str, what: str, work: Awaitable[Any]) -> list[str]:
    """Run ``work`` (a definition on ``side``); return ``["<what>: <server's reason>"]`` if the server
    refuses it, ``[]`` if it is done. A lost connection is raised as ``side.lost`` (``doing`` names it)."""
    try:
        await work
    except pm_errors.OperationFailure as exc:
        return [f"{what}: {_said(exc)}"]
    except pm_errors.ConnectionFailure as exc:
        raise side.lost(exc, doing) from exc
    return []


class ServerDestination:
    """A database on a server (``Side``): DDL from ``ddl``, inserts through ``copy.insert_batch``."""

    def __init__(self, side: Side) -> None:
        self.side = side

    async def create_collection(self, intent: Intent) -> list[str]:
        """Create the collection with its creation options; a view the server refuses is a difference."""
        if intent.kind is not Kind.VIEW:
            async with self.side.errors(f"creating {intent.dest!r}"):
                await ddl.create(self.side.db, intent.dest, intent.options)
            return []
        work = ddl.create(self.side.db, intent.dest, intent.options)
        return await _refused(self.side, f"creating view {intent.name!r}", "view could not be created", work)

    async def write_batch(self, intent: Intent, docs: list[RawBSONDocument]) -> None:
        """Insert the batch so that nothing of it lands after the run stops (see ``copy.insert_batch``)."""
        async with self.side.errors(f"copying {intent.name!r}"):
            await insert_batch(raw_collection(self.side, intent.dest), docs, ordered=intent.kind is Kind.CAPPED)

    async def reopen(self, intent: Intent) -> None:
        """Undo what finishing ``intent``'s collection did (indexes, validator, TTL) before writing its ranges again.

        A resume writes the unfinished ranges of a collection that may already be finished and
        checked (it failed verification): its unique indexes would refuse documents being settled,
        its validator or TTL reject or expire them. All are built or applied again afterwards.
        """
        name = intent.name
        async with self.side.errors(f"preparing {name!r} to be copied again"):
            if ddl.create_indexes_command(name, intent.indexes) is not None or intent.kind is Kind.TIMESERIES:
                await self.side.db.command("dropIndexes", name, index="*")
            options = await collection_options(self.side, name) or {}
            reset: dict[str, Any] = {"validator": {}} if options.get("validator") else {}
            if "expireAfterSeconds" in options:
                reset["expireAfterSeconds"] = "off"
            if reset:
                await self.side.db.command("collMod", name, **reset)

    async def remove_unread(self, intent: Intent, rng: IdRange, seen: SeenIds, batch_size: int) -> int:
        """Delete the documents of ``rng`` this run did not read (``reconcile.remove_unread``); return how many."""
        async with self.side.errors(f"copying {intent.name!r}"):
            return await remove_unread(raw_collection(self.side, intent.name), rng, seen, batch_size)

    async def create_indexes(self, intent: Intent, specs: Sequence[Mapping[str, Any]]) -> list[str]:
        """Build ``specs`` in one ``createIndexes``; if the server refuses, one by one to name the culprits."""
        command = ddl.create_indexes_command(intent.dest, specs)
        if command is None:
            return []
        try:
            await self.side.db.command(command)
            return []
        except pm_errors.OperationFailure:
            pass  # find out which index the server refuses, below
        except pm_errors.ConnectionFailure as exc:
            raise self.side.lost(exc, f"building the indexes of {intent.name!r}") from exc
        differences: list[str] = []
        for spec in specs:
            work = ddl.create_indexes(self.side.db, intent.dest, [spec])
            what = f"index {spec.get('name')!r} could not be built"
            differences += await _refused(self.side, f"building the indexes of {intent.name!r}", what, work)
        return differences

    async def finish(self, intent: Intent) -> list[str]:
        """Apply the validator and TTL options held back at creation (``collMod``)."""
        extra = ddl.deferred_options(intent.options)
        if not extra:
            return []
        work = ddl.apply_deferred(self.side.db, intent.dest, intent.options)
        what = f"options {sorted(extra)} could not be applied"
        return await _refused(self.side, f"setting the options of {intent.name!r}", what, work)


async def insert_batch(target: AsyncCollection[RawBSONDocument], docs: list[RawBSONDocument], *, ordered: bool) -> None:
    """Insert one batch so that nothing of it lands after this run stops, and so that re-inserting is safe.

    Cancelled (Ctrl-C) while the batch is on its way, it waits for the server's answer before
    stopping: a batch the server is still executing would otherwise land after the run ended.
    Documents already there (an earlier run wrote them, or its late batch landed) meet a duplicate
    ``_id``: one byte for byte the same is kept, one that differs is replaced (``reconcile.settle``).
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
    """Insert ``docs``; settle those meeting a duplicate ``_id`` and insert again what is still missing."""
    for _ in range(SETTLE_ROUNDS):
        if not docs:
            return
        try:
            await target.insert_many(docs, ordered=ordered)
            return
        except BulkWriteError as exc:
            errors = exc.details.get("writeErrors") or []
            if not errors or any(not _duplicate_id(e) for e in errors):
                raise
            # Unordered: only the failed ones are left. Ordered: everything from the first failure on
            # (the server stopped there); those after it that are missing are inserted again, in order.
            left = docs[int(errors[0]["index"]) :] if ordered else [docs[int(e["index"])] for e in errors]
            docs = await settle(target, left)
    raise pm_errors.OperationFailure(
        f"{len(docs)} documents of a batch kept changing on the destination while being written "
        f"({SETTLE_ROUNDS} attempts): is another program writing to it?"
    )


def _duplicate_id(error: dict[str, Any]) -> bool:
    """Return whether a write error is a duplicate ``_id`` (not another unique index)."""
    if error.get("code") != DUPLICATE_KEY:
        return False
    key = error.get("keyPattern") or error.get("keyValue") or {"_id": 1}
    return list(key) == ["_id"]
