"""A sampled copy of a database: at most N documents per collection, with indexes, options and views.

The backup engine copies everything; a rehearsal on a large database may only need the documents
the migrations would change, and a few they should leave alone. For each collection, the sample
takes first the documents matching the pending migrations' ``sample_filters`` (their union, in
``_id`` order), then fills up to N with other documents. GridFS chunks follow their files: the
``<bucket>.chunks`` documents whose ``files_id`` is a sampled ``<bucket>.files`` document are all
copied (a file without its chunks would be corrupt), so a chunks collection may hold more than N.
Collections are created with their options (validators and TTL applied after the load, as the
backup engine does), their indexes rebuilt, views recreated in order; the copy is checked (count and
content hash of what was read against what was written, options, indexes) before it is used.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from bson import decode_all
from bson.raw_bson import RawBSONDocument
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from analytiq_data.backup import BackupOptions, Digest, ddl
from analytiq_data.backup.catalog import namespaces
from analytiq_data.backup.compare import digest_collection
from analytiq_data.backup.copy import RAW
from analytiq_data.backup.digest import digest_batch
from analytiq_data.backup.plan import Intent, Kind, build_plan
from analytiq_data.errors import VerificationError
from analytiq_data.progress import NULL_PROGRESS, Progress
from analytiq_data.safety.snapshot import definition_changes, index_changes, indexes

Filters = Mapping[str, Sequence[Mapping[str, Any]]]
ID_BATCH = 1000


@dataclass
class SampleCopy:
    """What a sampled copy holds: documents per collection, and the views recreated."""

    documents: dict[str, int] = field(default_factory=dict)
    views: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        """Return the documents copied in all collections."""
        return sum(self.documents.values())


def _chunks_of(name: str, names: set[str]) -> str | None:
    """Return the files collection whose chunks ``name`` holds (``ocr.chunks`` → ``ocr.files``), if any."""
    if name.endswith(".chunks") and (files := name[: -len(".chunks")] + ".files") in names:
        return files
    return None


async def copy_sample(
    client: AsyncMongoClient[Any],
    options: BackupOptions,
    per_collection: int,
    filters: Filters,
    progress: Progress = NULL_PROGRESS,
    *,
    whole: Callable[[str], bool] = lambda name: False,
) -> SampleCopy:
    """Replace ``options.dest_db`` with a checked sample of ``options.src_db`` (same server, ``client``).

    ``options`` names the databases and the collections to leave out (``exclude``); at most
    ``per_collection`` documents are taken per collection (GridFS chunks follow their files), except
    in collections for which ``whole(name)`` is true (e.g. the version and history), copied whole.
    Raises VerificationError if the sample as written differs from the sample as read.
    """
    src, dst = client[options.src_db], client[options.dest_db]
    await client.drop_database(options.dest_db)
    plan = await build_plan(src, options)
    names = {i.name for i in plan.collections}
    ordered = sorted(plan.collections, key=lambda i: (_chunks_of(i.name, names) is not None, i.name))
    result = SampleCopy()
    file_ids: dict[str, list[Any]] = {}
    progress.start("sample copy", total=len(ordered) + len(plan.views), unit="collections")
    for intent in ordered:
        files = _chunks_of(intent.name, names)
        if files is not None:
            count = await _copy_chunks(src, dst, intent, file_ids.get(files, []))
        else:
            limit = 0 if whole(intent.name) else per_collection
            count, ids = await _copy_chosen(src, dst, intent, limit, list(filters.get(intent.name, ())))
            file_ids[intent.name] = ids
        result.documents[intent.name] = count
        progress.advance("sample copy")
    for view in plan.views:
        await ddl.create(dst, view.name, view.options)
        result.views.append(view.name)
        progress.advance("sample copy")
    await _check_definitions(src, dst, [*plan.collections, *plan.views])
    progress.finish("sample copy", f"{result.total:,} documents in {len(result.documents)} collections")
    return result


async def _copy_chosen(
    src: AsyncDatabase[Any], dst: AsyncDatabase[Any], intent: Intent, limit: int, filters: list[Mapping[str, Any]]
) -> tuple[int, list[Any]]:
    """Copy the documents the migrations would change, then others, up to ``limit`` (0: all); return
    the count and the ``_id``s."""
    await _create(dst, intent)
    queries: list[dict[str, Any]] = [{}]
    if filters:
        wanted = dict(filters[0]) if len(filters) == 1 else {"$or": [dict(f) for f in filters]}
        queries = [wanted, {"$nor": [dict(f) for f in filters]}]
    digest, ids = Digest(), list[Any]()
    for query in queries:
        if limit and digest.count >= limit:
            break
        part, part_ids = await _copy_query(src, dst, intent, query, limit - digest.count if limit else 0)
        digest, ids = digest + part, ids + part_ids
    await _finish(dst, intent, digest)
    return digest.count, ids


async def _copy_chunks(src: AsyncDatabase[Any], dst: AsyncDatabase[Any], intent: Intent, file_ids: list[Any]) -> int:
    """Copy every chunk of the sampled files; return how many."""
    await _create(dst, intent)
    digest = Digest()
    for start in range(0, len(file_ids), ID_BATCH):
        query = {"files_id": {"$in": file_ids[start : start + ID_BATCH]}}
        part, _ = await _copy_query(src, dst, intent, query, 0)
        digest += part
    await _finish(dst, intent, digest)
    return digest.count


async def copy_collection(src: AsyncDatabase[Any], dst: AsyncDatabase[Any], intent: Intent) -> int:
    """Create ``intent``'s collection in ``dst`` with its options, copy all its documents from ``src``,
    check them, build its indexes and apply its validator/TTL; return the documents copied."""
    await _create(dst, intent)
    digest, _ = await _copy_query(src, dst, intent, {}, 0)
    await _finish(dst, intent, digest)
    return digest.count


async def _create(dst: AsyncDatabase[Any], intent: Intent) -> None:
    await ddl.create(dst, intent.name, intent.options)


async def _copy_query(
    src: AsyncDatabase[Any], dst: AsyncDatabase[Any], intent: Intent, query: Mapping[str, Any], limit: int
) -> tuple[Digest, list[Any]]:
    """Copy the documents matching ``query`` (at most ``limit``; 0 = all); return their digest and ``_id``s."""
    capped = intent.kind is Kind.CAPPED
    sort = [("$natural", 1)] if capped else [("_id", 1)]
    cursor = src.get_collection(intent.name, codec_options=RAW).find_raw_batches(dict(query), sort=sort, limit=limit)
    target = dst.get_collection(intent.name, codec_options=RAW)
    digest, ids = Digest(), list[Any]()
    async for batch in cursor:
        raw = cast(bytes, batch)  # raw batch cursors yield bytes
        docs: list[RawBSONDocument] = decode_all(raw, RAW)
        if not docs:
            continue
        digest += digest_batch(raw)
        ids.extend(doc.get("_id") for doc in docs)
        await target.insert_many(docs, ordered=capped)
    return digest, ids


async def _finish(dst: AsyncDatabase[Any], intent: Intent, source: Digest) -> None:
    """Check what was written against what was read, then build indexes and apply deferred options."""
    written = await digest_collection(dst.get_collection(intent.name, codec_options=RAW), batch_size=1000)
    if not written.matches(source):
        raise VerificationError(
            f"the sample of {intent.name!r} in {dst.name!r} differs from what was read "
            f"({source.count} documents read, {written.count} written)",
            hint="run the rehearsal again; if it persists, rehearse without --sample",
        )
    await ddl.create_indexes(dst, intent.name, intent.indexes)
    await ddl.apply_deferred(dst, intent.name, intent.options)


async def _check_definitions(src: AsyncDatabase[Any], dst: AsyncDatabase[Any], intents: list[Intent]) -> None:
    """Raise VerificationError unless every collection and view has the source's options and indexes."""
    found, source = await namespaces(dst, everything=True), await namespaces(src, everything=True)
    problems: list[str] = []
    for intent in intents:
        if intent.name not in found:
            problems.append(f"{intent.name}: missing")
            continue
        problems += [f"{intent.name}: {p}" for p in definition_changes(source[intent.name], found[intent.name])]
        if intent.kind is not Kind.VIEW:
            changes = index_changes(await indexes(src[intent.name]), await indexes(dst[intent.name]))
            problems += [f"{intent.name}: {p}" for p in changes]
    if problems:
        raise VerificationError(
            f"the sample copy {dst.name!r} is not faithful: {'; '.join(problems[:3])}",
            hint="rehearse without --sample",
        )
