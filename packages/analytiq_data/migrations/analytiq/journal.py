"""The undo journal, and the base class of Analytiq's data migrations built on it.

Bookkeeping the app never sees: ``up`` records, for each document it changes and before changing
it, what ``down`` needs to revert exactly that change (the old values, which fields it added), in a
side collection ``migration_undo.<MigrationClass>``: one record per batch,
``{_id: ObjectId, at, n, entries: [{_id: <document _id>, ...}, ...]}``. ``down`` replays the
records newest first, reverting a document only if it is still as ``up`` left it (the revert's
filter says so), deletes each record once applied (so a killed ``down`` resumes where it stopped)
and drops the journal when done.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar

import bson
from bson import ObjectId
from bson.raw_bson import RawBSONDocument
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import PyMongoError

from analytiq_data.errors import MigrationError
from analytiq_data.migrations.base import Migration
from analytiq_data.migrations.batch import (
    DEFAULT_BATCH_SIZE,
    BatchResult,
    Change,
    WriteModel,
    batch_update,
    clear_checkpoint,
    current_progress,
)
from analytiq_data.progress import Progress
from analytiq_data.uri import redact_text

logger = logging.getLogger(__name__)

JOURNAL_PREFIX = "migration_undo."
MAX_RECORD_BYTES = 8 * 1024 * 1024  # well under the 16 MB document limit
MAX_ENTRY_BYTES = 15 * 1024 * 1024


def still(value: Any) -> dict[str, Any]:
    """Return a query operator matching a field that still holds ``value`` (exactly, for non-array fields).

    ``{"$not": {"$ne": value}}`` is equality without ``$eq``'s index planning: mongod answers both from
    the ``_id`` index in a per-document update, but the test server spends three times as long per
    update on ``$eq``. Unlike ``{field: value}`` it never reads a document value as an operator.
    """
    return {"$not": {"$ne": value}}


@dataclass
class ReplayResult:
    """What replaying a journal did."""

    entries: int = 0  # journal entries read
    reverted: int = 0  # documents put back as they were
    left_alone: int = 0  # entries whose document was no longer as up left it (changed by the app, or deleted)


class UndoJournal:
    """The undo records of one migration, in collection ``migration_undo.<owner>`` of ``db``."""

    def __init__(self, db: AsyncDatabase[Any], owner: str) -> None:
        self.collection: AsyncCollection[Any] = db[JOURNAL_PREFIX + owner]

    async def record(self, entries: Sequence[Mapping[str, Any]]) -> None:
        """Store ``entries`` (one per document about to change) as one or more records of at most 8 MB."""
        options = self.collection.codec_options
        records: list[dict[str, Any]] = []
        chunk: list[RawBSONDocument] = []
        size = 0
        for entry in entries:
            raw = RawBSONDocument(bson.encode(entry, codec_options=options))
            if len(raw.raw) > MAX_ENTRY_BYTES:
                raise MigrationError(
                    f"the undo record of document {entry.get('_id')!r} is {len(raw.raw):,} bytes, too big to keep",
                    hint="this document cannot be migrated reversibly; fix it by hand, then run again",
                )
            if chunk and size + len(raw.raw) > MAX_RECORD_BYTES:
                records.append(self._record(chunk))
                chunk, size = [], 0
            chunk.append(raw)
            size += len(raw.raw)
        if chunk:
            records.append(self._record(chunk))
        await self.collection.insert_many(records, ordered=True)

    @staticmethod
    def _record(chunk: list[RawBSONDocument]) -> dict[str, Any]:
        return {"_id": ObjectId(), "at": datetime.now(UTC), "n": len(chunk), "entries": chunk}

    async def pending(self) -> int:
        """Return how many entries the journal holds."""
        rows = await (await self.collection.aggregate([{"$group": {"_id": None, "n": {"$sum": "$n"}}}])).to_list()
        return int(rows[0]["n"]) if rows else 0

    async def has_records(self) -> bool:
        """Return whether the journal holds any record."""
        return await self.collection.find_one({}, {"_id": 1}) is not None

    async def recorded_ids(self, ids: Sequence[Any], before: datetime) -> list[Any]:
        """Return those of ``ids`` with an entry in a record written before ``before`` (one query)."""
        pipeline: list[dict[str, Any]] = [
            {"$match": {"at": {"$lt": before}, "entries._id": {"$in": list(ids)}}},
            {"$unwind": "$entries"},
            {"$match": {"entries._id": {"$in": list(ids)}}},
            {"$group": {"_id": "$entries._id"}},
        ]
        return [row["_id"] for row in await (await self.collection.aggregate(pipeline)).to_list()]

    async def replay(
        self,
        target: AsyncCollection[Any],
        revert: Callable[[Mapping[str, Any]], WriteModel | None],
        *,
        progress: Progress,
        task: str,
    ) -> ReplayResult:
        """Apply ``revert(entry)`` (a write model, or None) to ``target`` for every entry, newest record first.

        Each record's writes go in one unordered bulk write, then the record is deleted; the
        journal is dropped at the end. Driver failures raise MigrationError (run again to resume).
        """
        result = ReplayResult()
        try:
            progress.start(task, await self.pending())
            cursor = self.collection.find({}, sort=[("_id", -1)], batch_size=1)
            try:
                while records := await cursor.to_list(1):
                    await self._apply(records[0], target, revert, result)
                    progress.advance(task, records[0]["n"])
                    del records  # hold one record: free this one before the next is read
            finally:
                await cursor.close()
            await self.collection.drop()
        except PyMongoError as exc:
            raise MigrationError(
                f"reverting {target.full_name} from {self.collection.name} failed after {result.entries} entries: "
                f"{redact_text(str(exc)).splitlines()[0][:300]}",
                hint="check the server, then run down again: it resumes with the records not yet applied",
            ) from exc
        progress.finish(task, f"{result.reverted:,} reverted, {result.left_alone:,} left as the app wrote them")
        return result

    async def _apply(
        self,
        record: Mapping[str, Any],
        target: AsyncCollection[Any],
        revert: Callable[[Mapping[str, Any]], WriteModel | None],
        result: ReplayResult,
    ) -> None:
        """Write the reverts of one record in one bulk write, then delete the record."""
        ops: list[WriteModel] = [op for entry in record["entries"] if (op := revert(entry)) is not None]
        if ops:
            res = await target.bulk_write(ops, ordered=False)
            result.reverted += res.modified_count
            result.left_alone += len(ops) - res.matched_count
        result.entries += len(record["entries"])
        await self.collection.delete_one({"_id": record["_id"]})


@dataclass
class RunContext:
    """State of one pass of an ``up``: its start time, the current batch's look-ups, notes for the log."""

    db: AsyncDatabase[Any]
    journal: UndoJournal
    started_at: datetime
    state: Any = None
    batch: Any = None
    counts: Counter[str] = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)

    def problem(self, message: str) -> None:
        """Note a document up cannot migrate (the first few are kept for the error message)."""
        self.counts["problems"] += 1
        if len(self.problems) < 5:
            self.problems.append(message)


class JournaledMigration(Migration):
    """A data migration that walks one collection with the batch helper, journaling each change.

    Subclasses set ``collection_name`` and ``old_shape`` (the filter selecting documents ``up``
    would change; also the sample filter), and implement ``plan(doc, ctx)`` → ``Change`` or None
    and ``revert(entry)`` → a conditional write model putting a document back. ``up`` repeats its
    walk (at most ``max_passes`` times) while documents changed under it; ``down`` replays the
    journal.
    """

    collection_name: ClassVar[str]
    old_shape: ClassVar[Mapping[str, Any]]
    projection: ClassVar[Mapping[str, Any] | None] = None
    batch_size: int = DEFAULT_BATCH_SIZE  # per class, or per instance: OcrKeyMigration(batch_size=100)
    max_passes: ClassVar[int] = 3
    use_transaction = False

    def __init__(self, description: str = "", version: int | None = None, *, batch_size: int | None = None) -> None:
        super().__init__(description, version)
        if batch_size is not None:
            if batch_size < 1:
                raise ValueError(f"batch_size must be at least 1, got {batch_size}")
            self.batch_size = batch_size

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "sample_filters" not in cls.__dict__ and "old_shape" in cls.__dict__:
            cls.sample_filters = {cls.collection_name: cls.old_shape}

    def plan(self, doc: dict[str, Any], ctx: RunContext) -> Change | None:
        """Return the change for ``doc`` (with its undo entry), or None to leave it."""
        raise NotImplementedError

    def revert(self, entry: Mapping[str, Any]) -> WriteModel | None:
        """Return the write putting back the document of journal ``entry`` if it is still as up left it."""
        raise NotImplementedError

    async def begin(self, ctx: RunContext) -> None:
        """Look up, once per pass before the walk, what ``plan`` needs (store it in ``ctx.state``)."""
        return None

    async def prepare(self, docs: Sequence[dict[str, Any]], ctx: RunContext) -> None:
        """Look up, once per batch, what ``plan`` needs to know about ``docs`` (store it in ``ctx.batch``)."""
        return None

    def job(self, direction: str) -> str:
        """Return the checkpoint name of this migration's walk in ``direction`` ("up")."""
        return f"{self.name}.{direction}"

    def journal(self, db: AsyncDatabase[Any]) -> UndoJournal:
        """Return this migration's undo journal in ``db``."""
        return UndoJournal(db, self.name)

    async def up(self, db: AsyncDatabase[Any]) -> bool:
        """Change every document in the old shape, journaling each change first; True when done."""
        journal = self.journal(db)
        result: BatchResult | None = None
        for _ in range(self.max_passes):
            ctx = RunContext(db=db, journal=journal, started_at=_now_ms())
            try:
                await self.begin(ctx)
            except PyMongoError as exc:
                reason = redact_text(str(exc)).splitlines()[0][:300]
                raise MigrationError(
                    f"{self.name}: reading {self.collection_name} failed: {reason}",
                    hint="check the server, then run up again",
                ) from exc
            result = await self._pass(db, ctx)
            notes = ", ".join(f"{n} {what}" for what, n in sorted(ctx.counts.items()))
            logger.info(
                "%s up: %d read, %d changed%s", self.name, result.seen, result.modified, f" ({notes})" if notes else ""
            )
            if ctx.problems:
                raise MigrationError(
                    f"{self.name}: {ctx.counts['problems']} document(s) of {self.collection_name} cannot be "
                    f"migrated: {'; '.join(ctx.problems)}",
                    hint="fix or remove those documents, then run up again (the others are already migrated)",
                )
            if result.unmatched == 0:
                return True
        assert result is not None
        raise MigrationError(
            f"{self.name}: {result.unmatched} document(s) of {self.collection_name} kept changing while being "
            f"migrated ({self.max_passes} passes)",
            hint="stop the application's writers, then run up again",
        )

    async def _pass(self, db: AsyncDatabase[Any], ctx: RunContext) -> BatchResult:
        async def prepare(docs: Sequence[dict[str, Any]]) -> None:
            await self.prepare(docs, ctx)

        return await batch_update(
            db[self.collection_name],
            lambda doc: self.plan(doc, ctx),
            job=self.job("up"),
            filter=self.old_shape,
            projection=self.projection,
            batch_size=self.batch_size,
            prepare=prepare,
            journal=ctx.journal,
        )

    async def down(self, db: AsyncDatabase[Any]) -> bool:
        """Put back the documents up changed that are still as up left it; True when done."""
        await clear_checkpoint(db, self.job("up"))  # a later up must start from the beginning
        result = await self.journal(db).replay(
            db[self.collection_name],
            self.revert,
            progress=current_progress(),
            task=f"{self.name} down ({self.collection_name})",
        )
        logger.info(
            "%s down: %d reverted, %d left as the app wrote them since the upgrade",
            self.name,
            result.reverted,
            result.left_alone,
        )
        return True


# Written for PyMongo's AsyncDatabase (``await coll.aggregate(...)``, not motor's cursors): the Analytiq
# app hands run_migrations its motor client, and these steps still get PyMongo's database. Declared
# outside the class body on purpose: it says which database the code needs, not what it does, so the
# checksums of the four shipped steps (recorded in the databases they migrated) stay as they were.
JournaledMigration.database_kind = "pymongo"


def _now_ms() -> datetime:
    """Return the current UTC time at BSON's millisecond precision."""
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)
