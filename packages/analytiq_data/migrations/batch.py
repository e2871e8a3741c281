"""Walk a collection in ``_id`` order and rewrite it in batches: the helper for data migrations.

``batch_update(collection, transform, job=...)`` reads the documents matching a filter in ``_id``
order, calls ``transform(doc)`` on each (in Python), and writes the returned updates back with one
unordered bulk write per batch. After each batch it records a checkpoint (the last ``_id`` done) in
the ``migration_checkpoints`` collection under the job's name, so a run that is killed resumes
after its last committed batch; the checkpoint is removed when the walk completes.

Costs: per batch of ``batch_size`` documents, one read (the cursor's next batch), one bulk write,
one checkpoint write, and one journal insert if the transform returns ``Change`` objects. Only one
batch is held in memory. The walk runs outside any transaction.

The walk never re-reads its own writes: it is one forward range scan of the ``_id`` index, and a
resumed run starts strictly after the checkpointed ``_id`` (in MongoDB's order across BSON types,
so collections mixing ObjectId, string and number ``_id`` values are walked completely).
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from re import Pattern
from typing import Any, Protocol

from bson import Binary, Code, Decimal128, Int64, MaxKey, MinKey, ObjectId, Regex, Timestamp
from bson.datetime_ms import DatetimeMS
from pymongo import DeleteMany, DeleteOne, InsertOne, ReplaceOne, UpdateMany, UpdateOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, PyMongoError

from analytiq_data.errors import MigrationError
from analytiq_data.migrations.engine.step_progress import current_progress as current_progress
from analytiq_data.migrations.engine.step_progress import use_progress as use_progress
from analytiq_data.progress import Progress, compatible
from analytiq_data.uri import redact_text

logger = logging.getLogger(__name__)

DEFAULT_BATCH_SIZE = 2500
"""Documents per batch: with a read, a write, a checkpoint and a journal insert per batch, about
one command per 600 documents, and one batch of typical documents is a few megabytes."""

CHECKPOINTS = "migration_checkpoints"
"""Collection holding one checkpoint per running job: ``{_id: job, last_id, seen, changed, ...}``."""

WriteModel = InsertOne[Any] | DeleteOne | DeleteMany | ReplaceOne[Any] | UpdateOne | UpdateMany
Update = WriteModel | Mapping[str, Any] | Sequence[Mapping[str, Any]]
"""What a transform may return for a document: a pymongo write model (used as is, so its filter
can add conditions), a dict of update operators (``{"$set": ..., "$unset": ...}``) or an
aggregation pipeline (a list of stages), the last two applied to that document by ``_id``."""


@dataclass(frozen=True)
class Change:
    """An update for one document, and what an undo journal must keep to revert it.

    ``undo`` is stored as ``{"_id": <document _id>, **undo}`` in the journal passed to
    ``batch_update`` before the update is written.
    """

    update: Update
    undo: Mapping[str, Any]


Transform = Callable[[dict[str, Any]], Update | Change | None]


class Journal(Protocol):
    """Where the undo records of a batch go, before the batch's updates are written."""

    async def record(self, entries: Sequence[Mapping[str, Any]]) -> None:
        """Store ``entries`` (each ``{"_id": ..., ...}``) durably; raise if that fails."""


@dataclass
class BatchResult:
    """What one ``batch_update`` run did (this run only; a resumed run counts from its resume point)."""

    job: str
    seen: int = 0  # documents read
    changed: int = 0  # write operations sent
    matched: int = 0
    modified: int = 0
    upserted: int = 0
    deleted: int = 0
    inserted: int = 0
    unmatched: int = 0  # one-document updates whose filter matched nothing (changed concurrently)
    batches: int = 0
    resumed_from: Any = None  # the checkpointed _id this run started after, if it resumed
    resumed: bool = False
    elapsed_s: float = 0.0
    journaled: int = 0

    @property
    def rate(self) -> float:
        """Documents read per second."""
        return self.seen / self.elapsed_s if self.elapsed_s > 0 else 0.0




# MongoDB's sort order across BSON types, as ``$type`` aliases (arrays cannot be an ``_id``).
_TYPE_ORDER: tuple[tuple[str, ...], ...] = (
    ("minKey",),
    ("null",),
    ("number",),
    ("string", "symbol"),
    ("object",),
    ("binData",),
    ("objectId",),
    ("bool",),
    ("date",),
    ("timestamp",),
    ("regex",),
    ("javascript",),
    ("maxKey",),
)


def _bracket(value: Any) -> int:
    """Return the index in ``_TYPE_ORDER`` of the BSON type bracket ``value`` sorts in."""
    checks: tuple[tuple[type | tuple[type, ...], int], ...] = (
        (MinKey, 0),
        (type(None), 1),
        (bool, 7),
        ((int, float, Int64, Decimal128, Decimal), 2),
        (str, 3),
        (ObjectId, 6),
        ((bytes, Binary, uuid.UUID), 5),
        ((datetime, DatetimeMS), 8),
        (Timestamp, 9),
        ((Regex, Pattern), 10),
        (Code, 11),
        (MaxKey, 12),
        (Mapping, 4),
    )
    for kind, index in checks:
        if isinstance(value, kind):
            return index
    raise TypeError(f"cannot order _id values of type {type(value).__name__}")


def after_id(last: Any) -> dict[str, Any]:
    """Return a filter matching every ``_id`` that sorts after ``last``, whatever its BSON type.

    ``{"_id": {"$gt": last}}`` alone only matches values of ``last``'s own type; the ``$type``
    clause adds the types that sort later.
    """
    later = [alias for group in _TYPE_ORDER[_bracket(last) + 1 :] for alias in group]
    greater: dict[str, Any] = {"_id": {"$gt": last}}
    return {"$or": [greater, {"_id": {"$type": later}}]} if later else greater


def _and(*filters: Mapping[str, Any] | None) -> dict[str, Any]:
    parts = [dict(f) for f in filters if f]
    if not parts:
        return {}
    return parts[0] if len(parts) == 1 else {"$and": parts}


def as_write(doc_id: Any, update: Update) -> WriteModel:
    """Return the write model for ``update`` returned by a transform for document ``doc_id``."""
    if isinstance(update, InsertOne | DeleteOne | DeleteMany | ReplaceOne | UpdateOne | UpdateMany):
        return update
    if isinstance(update, Mapping):
        if not update or not all(str(key).startswith("$") for key in update):
            raise TypeError(
                f"a transform returned {dict(update)!r} for _id {doc_id!r}: return update operators "
                "({'$set': ...}), a pipeline, a pymongo write model, or None"
            )
        return UpdateOne({"_id": doc_id}, dict(update))
    if isinstance(update, Sequence) and not isinstance(update, str | bytes):
        return UpdateOne({"_id": doc_id}, [dict(stage) for stage in update])
    raise TypeError(f"a transform returned {type(update).__name__} for _id {doc_id!r}")


async def read_checkpoint(db: AsyncDatabase[Any], job: str) -> dict[str, Any] | None:
    """Return the checkpoint of ``job`` (``last_id``, ``seen``, ``changed``, ...) or None."""
    doc: dict[str, Any] | None = await db[CHECKPOINTS].find_one({"_id": job})
    return doc


async def clear_checkpoint(db: AsyncDatabase[Any], job: str) -> bool:
    """Forget ``job``'s checkpoint so its next run starts from the beginning; return whether one existed."""
    result = await db[CHECKPOINTS].delete_one({"_id": job})
    return result.deleted_count > 0


@dataclass
class _Batch:
    ops: list[WriteModel] = field(default_factory=list)
    undo: list[Mapping[str, Any]] = field(default_factory=list)
    single_updates: int = 0


def _plan(docs: Sequence[dict[str, Any]], transform: Transform) -> _Batch:
    batch = _Batch()
    for doc in docs:
        out = transform(doc)
        if out is None:
            continue
        if isinstance(out, Change):
            batch.undo.append({"_id": doc["_id"], **out.undo})
            update = out.update
        else:
            update = out
        op = as_write(doc["_id"], update)
        batch.ops.append(op)
        if isinstance(op, UpdateOne | ReplaceOne):
            batch.single_updates += 1
    return batch


async def _write(collection: AsyncCollection[Any], batch: _Batch, result: BatchResult) -> None:
    if not batch.ops:
        return
    try:
        res = await collection.bulk_write(batch.ops, ordered=False)
    except BulkWriteError as exc:
        first = (exc.details.get("writeErrors") or [{}])[0]
        raise MigrationError(
            f"writing a batch to {collection.full_name} failed: {first.get('errmsg', exc)} "
            f"(document {first.get('op', {}).get('q', {}).get('_id', '?')!r}, "
            f"{len(exc.details.get('writeErrors') or [])} errors in the batch)",
            hint="fix the data or the transform, then run again: the walk resumes after its last committed batch",
        ) from exc
    result.changed += len(batch.ops)
    result.matched += res.matched_count
    result.modified += res.modified_count
    result.upserted += res.upserted_count
    result.deleted += res.deleted_count
    result.inserted += res.inserted_count
    result.unmatched += max(0, batch.single_updates - res.matched_count - res.upserted_count)


async def batch_update(
    collection: AsyncCollection[Any],
    transform: Transform,
    *,
    job: str,
    filter: Mapping[str, Any] | None = None,
    projection: Mapping[str, Any] | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    prepare: Callable[[Sequence[dict[str, Any]]], Awaitable[None]] | None = None,
    journal: Journal | None = None,
    progress: Progress | None = None,
    count: bool = True,
) -> BatchResult:
    """Rewrite the documents of ``collection`` matching ``filter``, ``batch_size`` at a time, in ``_id`` order.

    ``transform(doc)`` returns what to write for ``doc`` (see ``Update``), a ``Change`` (the update
    plus undo data, stored in ``journal`` before the batch is written), or None to leave it.
    ``prepare(docs)``, if given, is awaited with each batch before its transforms run (one query
    per batch for look-ups instead of one per document). ``job`` names the checkpoint: a run with
    the same job name resumes after the last batch a killed run committed. Progress goes to
    ``progress`` (default: the one set by ``use_progress``), with the total counted first unless
    ``count`` is False. Driver failures raise MigrationError; a transform's exception propagates
    with the batch unwritten.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    walk = _Walk(collection, transform, job, filter, projection, batch_size, prepare, journal)
    sink = compatible(progress if progress is not None else current_progress())
    started = time.monotonic()
    try:
        await walk.run(sink, count)
    except PyMongoError as exc:
        raise MigrationError(
            f"batch job {job!r} on {collection.full_name} failed after {walk.result.seen} documents: "
            f"{redact_text(str(exc)).splitlines()[0][:300]}",
            hint="check the server, then run again: the walk resumes after its last committed batch",
        ) from exc
    finally:
        walk.result.elapsed_s = time.monotonic() - started
    sink.finish(walk.task, f"{walk.result.seen:,} read, {walk.result.modified:,} changed")
    return walk.result


@dataclass
class _Walk:
    """One run of ``batch_update``: its parameters, its result, and the loop."""

    collection: AsyncCollection[Any]
    transform: Transform
    job: str
    filter: Mapping[str, Any] | None
    projection: Mapping[str, Any] | None
    batch_size: int
    prepare: Callable[[Sequence[dict[str, Any]]], Awaitable[None]] | None
    journal: Journal | None
    result: BatchResult = field(init=False)

    def __post_init__(self) -> None:
        self.result = BatchResult(job=self.job)
        self.checkpoints = self.collection.database[CHECKPOINTS]
        self.task = f"{self.job} ({self.collection.name})"

    async def run(self, sink: Progress, count: bool) -> None:
        """Walk from the checkpoint (if any) to the end, then clear the checkpoint."""
        saved = await self.checkpoints.find_one({"_id": self.job}) or {}
        if saved:
            self.result.resumed, self.result.resumed_from = True, saved.get("last_id")
            logger.info("job %s resumes after _id %r", self.job, self.result.resumed_from)
        query = _and(self.filter, after_id(self.result.resumed_from) if self.result.resumed else None)
        sink.start(self.task, await self.collection.count_documents(query) if count else None)
        totals = {"seen": saved.get("seen", 0), "changed": saved.get("changed", 0)}
        cursor = self.collection.find(
            query, self.projection, sort=[("_id", 1)], hint=[("_id", 1)], batch_size=self.batch_size
        )
        try:
            while docs := await cursor.to_list(self.batch_size):
                changed = await self._batch(docs)
                totals["seen"] += len(docs)
                totals["changed"] += changed
                if cursor.alive:  # the last batch's checkpoint would be deleted at once
                    await self._checkpoint(docs[-1]["_id"], totals)
                sink.advance(self.task, len(docs))
                del docs  # hold one batch: free this one before the next is read
        finally:
            await cursor.close()
        await self.checkpoints.delete_one({"_id": self.job})

    async def _batch(self, docs: list[dict[str, Any]]) -> int:
        """Plan, journal and write one batch; return how many writes it sent."""
        if self.prepare is not None:
            await self.prepare(docs)
        batch = _plan(docs, self.transform)
        if batch.undo:
            if self.journal is None:
                raise TypeError(f"job {self.job!r}: the transform returned Change objects but no journal")
            await self.journal.record(batch.undo)
            self.result.journaled += len(batch.undo)
        await _write(self.collection, batch, self.result)
        self.result.seen += len(docs)
        self.result.batches += 1
        return len(batch.ops)

    async def _checkpoint(self, last_id: Any, totals: dict[str, int]) -> None:
        record = {"last_id": last_id, "namespace": self.collection.full_name, **totals}
        await self.checkpoints.replace_one({"_id": self.job}, {**record, "updated_at": datetime.now(UTC)}, upsert=True)
