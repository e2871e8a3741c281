"""Loading a dump into a database: collections created, documents streamed in, checked, then indexes.

The engine half of restoring from files (``safety.restore_files`` adds the lock and the swap):

1. ``create_namespaces``: each collection created with its creation options (validator and TTL
   options deferred, as for a copy);
2. ``load_documents``: the dump's events read in a worker thread (an archive's CRCs checked at each
   EOF header by the reader) and inserted batch by batch (capped collections in order); each
   collection's documents are hashed as they are read from the file;
3. ``check_documents``: every collection read back and compared with what the files held (count and
   content hash) before anything else is built;
4. ``finish_definitions``: indexes (all options, built after the documents), then validators and
   TTL options, then views (each after the view it reads);
5. ``check_definitions``: options and indexes compared with the dump's metadata.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from bson.raw_bson import RawBSONDocument
from bson.son import SON

from analytiq_data.backup.copy import gather_all, raw_collection
from analytiq_data.backup.digest import Digest, digest_batch
from analytiq_data.backup.endpoints import Side
from analytiq_data.backup.files.metadata import Metadata
from analytiq_data.backup.files.stream import Batch, DumpSource, End, Event
from analytiq_data.backup.plan import (
    Intent,
    Kind,
    creation_options,
    deferred_options,
    index_spec,
    is_id_index,
    order_views,
)
from analytiq_data.backup.verify import (
    collection_infos,
    compare_digests,
    compare_indexes,
    compare_options,
    digest_collection,
    index_specs,
)
from analytiq_data.progress import Progress

#: Batches read from the files and not yet inserted.
READ_AHEAD = 4
#: Concurrent inserts: while one waits for the server, the next batch is on its way.
WRITERS = 2


def is_capped(meta: Metadata) -> bool:
    """Return whether the namespace is a capped collection (loaded in file order, one ordered writer)."""
    return bool(meta.options.get("capped"))


async def create_namespaces(side: Side, metas: Sequence[Metadata]) -> None:
    """Create every collection of ``metas`` in ``side``'s database with its creation options."""
    for meta in metas:
        if meta.is_view:
            continue
        command = SON([("create", meta.collection), *creation_options(meta.options).items()])
        async with side.errors(f"creating {meta.collection!r}"):
            await side.db.command(command)


async def load_documents(
    side: Side,
    source: DumpSource,
    metas: Sequence[Metadata],
    *,
    batch_size: int,
    progress: Progress,
    capture: dict[tuple[str, str], list[bytes]] | None = None,
) -> dict[str, Digest]:
    """Insert the documents of ``metas``' namespaces from ``source``; return the digest of each as read from the files.

    Documents of namespaces not in ``metas`` (another database of an archive) are read and skipped,
    except those of the (db, collection) keys of ``capture``, kept there in file order (a dump's
    catch-up section).
    """
    wanted = {(m.db, m.collection): m for m in metas if not m.is_view}
    queue: asyncio.Queue[tuple[Event, int] | None] = asyncio.Queue(maxsize=READ_AHEAD)
    digests: dict[str, Digest] = {m.collection: Digest() for m in wanted.values()}
    turn: dict[str, int] = dict.fromkeys(digests, 0)  # a capped collection's next batch to insert
    ordered = asyncio.Condition()
    for meta in wanted.values():
        progress.start(meta.collection, total=None)

    async def read() -> None:
        events: Iterator[Event] = source.events(batch_size)
        sequence: dict[str, int] = dict.fromkeys(digests, 0)
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
        task = asyncio.ensure_future(_insert(side, name, event.docs, capped))
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
            part = digest_batch(b"".join(event.docs))
            digests[name] += part
            await insert(event, is_capped(wanted[(event.db, name)]), seq)
            progress.advance(name, part.count, part.nbytes)
        await queue.put(None)  # let the other writers stop too

    inflight: set[asyncio.Future[None]] = set()
    try:
        await gather_all([read(), *(write() for _ in range(WRITERS))])
    finally:
        # On failure or Ctrl-C, wait for inserts already sent: none may land after the caller
        # drops the rebuild database (it would create it again).
        await asyncio.gather(*inflight, return_exceptions=True)
    return digests


async def _insert(side: Side, name: str, docs: list[bytes], ordered: bool) -> None:
    async with side.errors(f"loading {name!r}"):
        await raw_collection(side, name).insert_many([RawBSONDocument(doc) for doc in docs], ordered=ordered)


async def check_documents(
    side: Side,
    metas: Sequence[Metadata],
    expected: Mapping[str, Digest],
    *,
    batch_size: int,
    skip: frozenset[str] = frozenset(),
) -> dict[str, list[str]]:
    """Read each loaded collection back; return the differences from the files' digests by collection."""
    out: dict[str, list[str]] = {}
    for meta in metas:
        if meta.is_view or meta.collection in skip:
            continue
        async with side.errors(f"reading {meta.collection!r} back"):
            found = await digest_collection(side.db[meta.collection], batch_size=batch_size)
        differences = compare_digests(expected.get(meta.collection, Digest()), found)
        if differences:
            out[meta.collection] = differences
    return out


def creatable_indexes(meta: Metadata) -> list[dict[str, Any]]:
    """Return the metadata's indexes as ``createIndexes`` specs, the automatic ``_id`` index left out."""
    return [index_spec(s) for s in meta.indexes if not is_id_index(s)]


def has_ttl(meta: Metadata) -> bool:
    """Return whether a namespace has a TTL index or option (the server may delete its documents at any time)."""
    return "expireAfterSeconds" in meta.options or any("expireAfterSeconds" in s for s in meta.indexes)


async def finish_definitions(side: Side, metas: Sequence[Metadata]) -> None:
    """Build the indexes, apply validators and TTL options, then create the views in order."""
    for meta in metas:
        if meta.is_view:
            continue
        specs = creatable_indexes(meta)
        async with side.errors(f"building the indexes of {meta.collection!r}"):
            if specs:
                await side.db.command(SON([("createIndexes", meta.collection), ("indexes", specs)]))
            deferred = deferred_options(meta.options)
            if deferred:
                await side.db.command(SON([("collMod", meta.collection), *deferred.items()]))
    views = order_views([Intent(m.collection, Kind.VIEW, m.options) for m in metas if m.is_view])
    for view in views:
        async with side.errors(f"creating view {view.name!r}"):
            await side.db.command(SON([("create", view.name), *creation_options(view.options).items()]))


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
