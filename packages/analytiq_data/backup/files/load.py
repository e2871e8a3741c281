"""Loading a dump into a database: collections created, documents streamed in, checked, then indexes.

The engine half of restoring from files (``safety.restore_files`` adds the lock and the swap):

1. ``create_namespaces``: each collection created with its creation options (validator and TTL
   options deferred, as for a copy);
2. ``load_documents``: the dump's events read once, in a worker thread, and inserted batch by batch
   (capped collections in order). The checks ride on that one pass: an archive's CRC-64 of each
   collection is checked by the reader at its EOF header (a mismatch stops the load), and each
   collection's documents read from the files are counted against those the server acknowledged;
3. ``check_counts``: the server's count of each collection compared with the files' (the data is
   not read back: a raw BSON insert stores the bytes it is given);
4. ``finish_definitions``: indexes (all options, built after the documents), then validators and
   TTL options, then views (each after the view it reads);
5. ``check_definitions``: options and indexes compared with the dump's metadata.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

from bson.raw_bson import RawBSONDocument
from pymongo import InsertOne

from analytiq_data.backup import ddl
from analytiq_data.backup.catalog import collection_infos, index_specs
from analytiq_data.backup.compare import compare_indexes, compare_options
from analytiq_data.backup.copy import gather_all, raw_collection
from analytiq_data.backup.endpoints import Side
from analytiq_data.backup.files.metadata import Metadata
from analytiq_data.backup.files.stream import Batch, DumpSource, End, Event
from analytiq_data.backup.plan import Intent, Kind, order_views
from analytiq_data.progress import Progress

#: Batches read from the files and not yet inserted.
READ_AHEAD = 4
#: Concurrent inserts: while one waits for the server, the next batch is on its way.
WRITERS = 2


@dataclass
class Loaded:
    """One collection loaded from files: documents and bytes read from them, documents the server took."""

    count: int = 0
    nbytes: int = 0
    acknowledged: int = 0

    def differences(self) -> list[str]:
        """Return how the documents the server acknowledged differ from those in the files."""
        if self.acknowledged == self.count:
            return []
        return [f"{self.count:,} documents in the files, {self.acknowledged:,} acknowledged by the server"]


def is_capped(meta: Metadata) -> bool:
    """Return whether the namespace is a capped collection (loaded in file order, one ordered writer)."""
    return bool(meta.options.get("capped"))


async def create_namespaces(side: Side, metas: Sequence[Metadata]) -> None:
    """Create every collection of ``metas`` in ``side``'s database with its creation options."""
    for meta in metas:
        if meta.is_view:
            continue
        async with side.errors(f"creating {meta.collection!r}"):
            await ddl.create(side.db, meta.collection, meta.options)


async def load_documents(
    side: Side,
    source: DumpSource,
    metas: Sequence[Metadata],
    *,
    batch_size: int,
    progress: Progress,
    capture: dict[tuple[str, str], list[bytes]] | None = None,
) -> dict[str, Loaded]:
    """Insert the documents of ``metas``' namespaces from ``source``, reading it once; return what each got.

    An archive's reader checks each collection's CRC-64 at its EOF header (DumpFileError on a
    mismatch or a truncated file, before the load ends). Documents of namespaces not in ``metas``
    (another database of an archive) are read and skipped, except those of the (db, collection)
    keys of ``capture``, kept there in file order (a dump's catch-up section).
    """
    wanted = {(m.db, m.collection): m for m in metas if not m.is_view}
    queue: asyncio.Queue[tuple[Event, int] | None] = asyncio.Queue(maxsize=READ_AHEAD)
    loaded: dict[str, Loaded] = {m.collection: Loaded() for m in wanted.values()}
    turn: dict[str, int] = dict.fromkeys(loaded, 0)  # a capped collection's next batch to insert
    ordered = asyncio.Condition()
    for meta in wanted.values():
        progress.start(meta.collection, total=None)

    async def read() -> None:
        events: Iterator[Event] = source.events(batch_size)
        sequence: dict[str, int] = dict.fromkeys(loaded, 0)
        while (event := await asyncio.to_thread(next, events, None)) is not None:
            if (event.db, event.collection) in wanted:
                await queue.put((event, sequence[event.collection]))
                sequence[event.collection] += 1
            elif capture is not None and isinstance(event, Batch) and (event.db, event.collection) in capture:
                capture[(event.db, event.collection)].extend(event.docs)
        await queue.put(None)

    async def insert(event: Batch, capped: bool, seq: int) -> None:
        name = event.collection
        if capped:  # keep the file's order: wait for this batch's turn
            async with ordered:
                await ordered.wait_for(lambda: turn[name] == seq)
        task = asyncio.ensure_future(_insert(side, name, event.docs, capped, loaded[name]))
        inflight.add(task)
        task.add_done_callback(inflight.discard)
        await asyncio.shield(task)  # a failure elsewhere must not cut an insert the server may still apply
        if capped:
            async with ordered:
                turn[name] = seq + 1
                ordered.notify_all()

    async def write() -> None:
        while (item := await queue.get()) is not None:
            event, seq = item
            name = event.collection
            if isinstance(event, End):
                progress.finish(name, f"{event.count} documents")
                continue
            assert isinstance(event, Batch)
            count, nbytes = len(event.docs), event.nbytes
            loaded[name].count += count
            loaded[name].nbytes += nbytes
            await insert(event, is_capped(wanted[(event.db, name)]), seq)
            progress.advance(name, count, nbytes)
        await queue.put(None)  # let the other writers stop too

    inflight: set[asyncio.Future[None]] = set()
    try:
        await gather_all([read(), *(write() for _ in range(WRITERS))])
    finally:
        # On failure or Ctrl-C, wait for inserts already sent: none may land after the caller
        # drops the rebuild database (it would create it again).
        await asyncio.gather(*inflight, return_exceptions=True)
    return loaded


async def _insert(side: Side, name: str, docs: list[bytes], ordered: bool, loaded: Loaded) -> None:
    inserts = [InsertOne(RawBSONDocument(doc)) for doc in docs]
    async with side.errors(f"loading {name!r}"):
        result = await raw_collection(side, name).bulk_write(inserts, ordered=ordered)
    loaded.acknowledged += result.inserted_count  # as the server counted them


async def check_counts(
    side: Side, metas: Sequence[Metadata], loaded: Mapping[str, Loaded], *, skip: frozenset[str] = frozenset()
) -> dict[str, list[str]]:
    """Return, by collection, how the documents acknowledged and counted by the server differ from the files'."""
    out: dict[str, list[str]] = {}
    for meta in metas:
        if meta.is_view or meta.collection in skip:
            continue
        expected = loaded.get(meta.collection, Loaded())
        differences = expected.differences()
        async with side.errors(f"counting {meta.collection!r}"):
            found = await side.db[meta.collection].count_documents({})
        if found != expected.count:
            differences.append(f"{expected.count:,} documents in the files, {found:,} in the database")
        if differences:
            out[meta.collection] = differences
    return out


def has_ttl(meta: Metadata) -> bool:
    """Return whether a namespace has a TTL index or option (the server may delete its documents at any time)."""
    return "expireAfterSeconds" in meta.options or any("expireAfterSeconds" in s for s in meta.indexes)


async def finish_definitions(side: Side, metas: Sequence[Metadata]) -> None:
    """Build the indexes, apply validators and TTL options, then create the views in order."""
    for meta in metas:
        if meta.is_view:
            continue
        async with side.errors(f"building the indexes of {meta.collection!r}"):
            await ddl.create_indexes(side.db, meta.collection, meta.indexes)
            await ddl.apply_deferred(side.db, meta.collection, meta.options)
    views = order_views([Intent(m.collection, Kind.VIEW, m.options) for m in metas if m.is_view])
    for view in views:
        async with side.errors(f"creating view {view.name!r}"):
            await ddl.create(side.db, view.name, view.options)


async def check_definitions(side: Side, metas: Sequence[Metadata]) -> dict[str, list[str]]:
    """Compare each namespace's options and indexes in ``side``'s database with the dump's metadata."""
    infos = await collection_infos(side)
    out: dict[str, list[str]] = {}
    for meta in metas:
        info = infos.get(meta.collection)
        if info is None:
            out[meta.collection] = ["missing after the load"]
            continue
        differences = compare_options(meta.options, info.get("options") or {})
        if not meta.is_view:
            differences += compare_indexes(meta.indexes, await index_specs(side, meta.collection))
        if differences:
            out[meta.collection] = differences
    return out
