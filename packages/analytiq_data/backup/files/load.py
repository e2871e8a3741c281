"""Loading a dump into a database: collections created, documents streamed in, checked, then indexes.

The engine half of restoring from files (``safety.restore_files`` adds the lock, the mark and the
swap). Each namespace may be loaded under another name (``where``: a restore loads beside the
collection it replaces).

1. ``create_namespaces``: each collection created with its creation options (validator and TTL
   options deferred, as for a copy);
2. ``load_documents``: the dump's events read once, in a worker thread, and inserted batch by batch
   as mongorestore does, several at once: how many inserts are in flight is chosen while loading
   by a ``WritePacer`` (``backup/pacing.py``: as many as the server absorbs, at most ``parallel``),
   across collections (capped collections in file order, one batch at a time). The checks ride on
   that one pass: an archive's CRC-64 of each collection is checked by the reader at its EOF header
   (a mismatch stops the load), and each collection's documents read from the files are counted
   against those the server acknowledged. As soon as a collection's last batch is acknowledged,
   ``on_loaded`` runs for it beside the rest of the load (a restore checks its count and builds its
   indexes there, as mongorestore builds a collection's indexes once its data is in);
3. ``check_counts``: the server's count of each collection (its catalog's) compared with the
   files' (the data is not read back: a raw BSON insert stores the bytes it is given);
4. ``finish_definitions``: one ``createIndexes`` per collection (all options, after the documents),
   then validators and TTL options (and views, unless the caller creates them itself);
5. ``check_definitions``: options and indexes compared with the dump's metadata.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
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
from analytiq_data.backup.options import DEFAULT_PARALLEL
from analytiq_data.backup.pacing import WritePacer
from analytiq_data.backup.plan import Intent, Kind, order_views
from analytiq_data.progress import Progress
from analytiq_data.text import plural

#: Batches read from the files and not yet handed to a writer (beyond one per writer).
READ_AHEAD = 4

Where = Callable[[str], str]
OnLoaded = Callable[[str, "Loaded"], Awaitable[None]]


def same_name(name: str) -> str:
    """Return ``name``: a namespace loaded under its own name."""
    return name


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


async def create_namespaces(side: Side, metas: Sequence[Metadata], where: Where = same_name) -> None:
    """Create every collection of ``metas`` in ``side``'s database (under ``where(name)``) with its creation options."""
    for meta in metas:
        if meta.is_view:
            continue
        async with side.errors(f"creating {meta.collection!r}"):
            await ddl.create(side.db, where(meta.collection), meta.options)


class _Load:
    """One pass over a dump: a reader thread feeding ``parallel`` writers paced by a ``WritePacer``."""

    def __init__(
        self, side: Side, metas: Sequence[Metadata], parallel: int, where: Where, on_loaded: OnLoaded | None
    ) -> None:
        self.side, self.where, self.on_loaded = side, where, on_loaded
        self.wanted = {(m.db, m.collection): m for m in metas if not m.is_view}
        self.loaded = {m.collection: Loaded() for m in self.wanted.values()}
        self.parallel = parallel
        self.pacer = WritePacer.starting_now(parallel)
        self.queue: asyncio.Queue[tuple[Event, int] | None] = asyncio.Queue(maxsize=READ_AHEAD + parallel)
        self.turn = dict.fromkeys(self.loaded, 0)  # a capped collection's next batch to insert
        self.ordered = asyncio.Condition()
        self.outstanding = dict.fromkeys(self.loaded, 0)  # batches taken and not yet acknowledged
        self.ended: set[str] = set()
        self.finishers: list[asyncio.Future[None]] = []
        self.begun: set[str] = set()  # collections whose finishing started
        self.inflight: set[asyncio.Future[None]] = set()

    async def read(
        self, source: DumpSource, batch_size: int, capture: dict[tuple[str, str], list[bytes]] | None
    ) -> None:
        events: Iterator[Event] = source.events(batch_size)
        sequence: dict[str, int] = dict.fromkeys(self.loaded, 0)
        while (event := await asyncio.to_thread(next, events, None)) is not None:
            if (event.db, event.collection) in self.wanted:
                await self.queue.put((event, sequence[event.collection]))
                sequence[event.collection] += 1
            elif capture is not None and isinstance(event, Batch) and (event.db, event.collection) in capture:
                capture[(event.db, event.collection)].extend(event.docs)
        await self.queue.put(None)

    async def write(self, progress: Progress) -> None:
        while (item := await self.queue.get()) is not None:
            self.raise_failed()
            event, seq = item
            name = event.collection
            if isinstance(event, End):
                progress.finish(name, plural(event.count, "document"))
                self.ended.add(name)
                self.maybe_finish(name)
                continue
            assert isinstance(event, Batch)
            count, nbytes = len(event.docs), event.nbytes
            self.loaded[name].count += count
            self.loaded[name].nbytes += nbytes
            self.outstanding[name] += 1
            try:
                await self.insert(event, is_capped(self.wanted[(event.db, name)]), seq)
            finally:
                self.outstanding[name] -= 1
            progress.advance(name, count, nbytes)
            self.maybe_finish(name)
        await self.queue.put(None)  # let the other writers stop too

    async def insert(self, event: Batch, capped: bool, seq: int) -> None:
        name = event.collection
        if capped:  # keep the file's order: wait for this batch's turn
            async with self.ordered:
                await self.ordered.wait_for(lambda: self.turn[name] == seq)
        loaded = self.loaded[name]

        def write() -> Awaitable[None]:
            return _insert(self.side, self.where(name), event.docs, capped, loaded)

        task = asyncio.ensure_future(self.pacer.run(write, len(event.docs), event.nbytes))
        self.inflight.add(task)
        task.add_done_callback(self.inflight.discard)
        await asyncio.shield(task)  # a failure elsewhere must not cut an insert the server may still apply
        if capped:
            async with self.ordered:
                self.turn[name] = seq + 1
                self.ordered.notify_all()

    def maybe_finish(self, name: str) -> None:
        """Start ``on_loaded(name)`` once the collection ended and every batch of it was acknowledged."""
        if self.on_loaded is not None and name in self.ended and self.outstanding[name] == 0:
            self.ended.discard(name)
            self.begun.add(name)
            self.finishers.append(asyncio.ensure_future(self.on_loaded(name, self.loaded[name])))

    def raise_failed(self) -> None:
        """Stop the load as soon as a collection's finishing failed."""
        for task in self.finishers:
            if task.done() and not task.cancelled() and task.exception() is not None:
                raise task.exception()  # type: ignore[misc]

    async def settle(self) -> None:
        """Wait for inserts already sent and stop finishing work (after a failure or Ctrl-C)."""
        # None may land after the caller removes what was loaded (it would create it again).
        await asyncio.gather(*self.inflight, return_exceptions=True)
        for task in self.finishers:
            task.cancel()
        await asyncio.gather(*self.finishers, return_exceptions=True)


async def load_documents(
    side: Side,
    source: DumpSource,
    metas: Sequence[Metadata],
    *,
    batch_size: int,
    progress: Progress,
    parallel: int = DEFAULT_PARALLEL,
    capture: dict[tuple[str, str], list[bytes]] | None = None,
    where: Where = same_name,
    on_loaded: OnLoaded | None = None,
) -> dict[str, Loaded]:
    """Insert the documents of ``metas``' namespaces from ``source``, reading it once; return what each got.

    At most ``parallel`` inserts are in flight (the pacer's level). An archive's reader checks each
    collection's CRC-64 at its EOF header (DumpFileError on a mismatch or a truncated file, before
    the load ends). ``on_loaded(name, loaded)`` (if given) runs for each collection once all of its
    documents are acknowledged, beside the rest of the load; its failure stops the load. Documents of
    namespaces not in ``metas`` (another database of an archive) are read and skipped, except those
    of the (db, collection) keys of ``capture``, kept there in file order (a dump's catch-up section).
    """
    load = _Load(side, metas, parallel, where, on_loaded)
    for meta in load.wanted.values():
        progress.start(meta.collection, total=None)
    try:
        await gather_all([load.read(source, batch_size, capture), *(load.write(progress) for _ in range(parallel))])
        for name in load.loaded.keys() - load.begun:  # a namespace the files never ended (no documents)
            load.ended.add(name)
            load.maybe_finish(name)
        await asyncio.gather(*load.finishers)
    except BaseException:
        await load.settle()
        raise
    return load.loaded


async def _insert(side: Side, name: str, docs: list[bytes], ordered: bool, loaded: Loaded) -> None:
    inserts = [InsertOne(RawBSONDocument(doc)) for doc in docs]
    async with side.errors(f"loading {name!r}"):
        result = await raw_collection(side, name).bulk_write(inserts, ordered=ordered)
    loaded.acknowledged += result.inserted_count  # as the server counted them


async def check_counts(
    side: Side,
    metas: Sequence[Metadata],
    loaded: Mapping[str, Loaded],
    *,
    skip: frozenset[str] = frozenset(),
    where: Where = same_name,
) -> dict[str, list[str]]:
    """Return, by collection, how the documents acknowledged and counted by the server differ from the files'."""
    out: dict[str, list[str]] = {}
    for meta in metas:
        if meta.is_view or meta.collection in skip:
            continue
        differences = await check_count(side, meta.collection, loaded.get(meta.collection, Loaded()), where)
        if differences:
            out[meta.collection] = differences
    return out


async def check_count(side: Side, name: str, expected: Loaded, where: Where = same_name) -> list[str]:
    """Return how one collection's documents acknowledged and counted by the server differ from the files'."""
    differences = expected.differences()
    async with side.errors(f"counting {name!r}"):
        found = await side.db[where(name)].estimated_document_count()  # the catalog's count: no scan on mongod
    if found != expected.count:
        differences.append(f"{expected.count:,} documents in the files, {found:,} in the database")
    return differences


async def finish_collection(side: Side, meta: Metadata, where: Where = same_name) -> None:
    """Build one collection's indexes (one ``createIndexes``), then apply its validator and TTL options."""
    async with side.errors(f"building the indexes of {meta.collection!r}"):
        await ddl.create_indexes(side.db, where(meta.collection), meta.indexes)
        await ddl.apply_deferred(side.db, where(meta.collection), meta.options)


async def finish_definitions(
    side: Side, metas: Sequence[Metadata], where: Where = same_name, *, views: bool = True
) -> None:
    """Build the indexes, apply validators and TTL options, then (``views``) create the views in order."""
    for meta in metas:
        if not meta.is_view:
            await finish_collection(side, meta, where)
    if not views:
        return
    for view in order_views([Intent(m.collection, Kind.VIEW, m.options) for m in metas if m.is_view]):
        async with side.errors(f"creating view {view.name!r}"):
            await ddl.create(side.db, view.name, view.options)


async def check_definitions(
    side: Side, metas: Sequence[Metadata], where: Where = same_name, *, views: bool = True
) -> dict[str, list[str]]:
    """Compare each namespace's options and indexes (under ``where(name)``) with the dump's metadata."""
    infos = await collection_infos(side, everything=True)
    out: dict[str, list[str]] = {}
    for meta in metas:
        if meta.is_view and not views:
            continue
        name = meta.collection if meta.is_view else where(meta.collection)
        info = infos.get(name)
        if info is None:
            out[meta.collection] = ["missing after the load"]
            continue
        differences = compare_options(meta.options, info.get("options") or {})
        if not meta.is_view:
            differences += compare_indexes(meta.indexes, await index_specs(side, name))
        if differences:
            out[meta.collection] = differences
    return out
