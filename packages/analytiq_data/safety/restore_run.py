"""One restore into a database, whatever the backup: lock, mark, load beside, check, swap, check again.

``restore`` (a backup database) and ``restore_files`` (a dump) each hand a ``Loader`` to
``replace_database``, which:

1. takes the restore lock (``restore_lock``: its own database, never the target);
2. finishes what an earlier restore left (``restore_mark``): a half-done swap is finished (and if
   it was a restore from the same backup, that is the whole job), a partial load is removed;
3. waits while a migration run holds the target's lock (reading only);
4. writes the mark, then has the loader load the backup inside the target (``staging``: beside the
   collections it replaces, under their own names otherwise), each collection checked as loaded;
5. keeps the history written after the backup and records the restore (``history_carry``);
6. refuses to swap if another client wrote to the target meanwhile (``activity``) or a migration
   run started: the restore then has not taken effect, and the partial load is removed;
7. records the swap's plan in the mark, swaps (``swap``), checks the result (counts, options,
   indexes, views) and writes by others after the swap, and removes the mark.

Any failure or Ctrl-C before 7 removes the partial load: the target ends as it was. From 7 on a
stopped restore is finished by the next run, never undone. Nothing of the tool stays in the
target afterwards.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import OperationFailure, PyMongoError

from analytiq_data.backup.catalog import namespaces
from analytiq_data.backup.endpoints import Side
from analytiq_data.backup.plan import Kind, kind_of
from analytiq_data.errors import ConfigurationError, MigrationError, VerificationError
from analytiq_data.migrations.engine.state import (
    HISTORY_COLLECTION,
    VERSION_COLLECTION,
    VERSION_ID,
    parse_version,
    utcnow,
)
from analytiq_data.progress import Progress
from analytiq_data.restore_mark import RestoreMark, read_mark
from analytiq_data.safety.activity import Writes, WriteWatch
from analytiq_data.safety.history_carry import RestoreRecord, carry_history
from analytiq_data.safety.restore_guard import SwapProgress, TargetInUse, stopped_error
from analytiq_data.safety.restore_lock import migration_started, restore_lock, wait_for_migrations
from analytiq_data.safety.results import RestoreResult
from analytiq_data.safety.staging import KEPT, Staging, remove_partial_load
from analytiq_data.safety.swap import Pause, SwapPlan, check_swapped, describe_loaded, run_swap
from analytiq_data.testhooks import Pauses
from analytiq_data.text import first_few

log = logging.getLogger(__name__)

#: Test hook (``testhooks``): ``loaded,swap-1:DIR`` pauses at each named point (``loaded``: before the
#: swap; ``swap-N``: after the N-th rename; ``swapped``). Tests only.
PAUSE_ENV = "ANALYTIQ_TEST_RESTORE_PAUSE"


@dataclass(frozen=True)
class TargetOptions:
    """Where a restore goes and how it behaves: the database, lock wait and lease, batches, writes in flight."""

    db: str
    lock_wait_s: float
    lease_s: float
    batch_size: int
    parallel: int


@dataclass(frozen=True)
class LoadPlan:
    """What a backup holds: its collections, its views (name, options) and about how many documents."""

    collections: tuple[str, ...]
    views: tuple[tuple[str, Mapping[str, Any]], ...] = ()
    documents: int = 0


@dataclass(frozen=True)
class LoadResult:
    """What was loaded: each collection's documents, and those with a TTL (the server may expire documents)."""

    counts: dict[str, int]
    ttl: frozenset[str] = frozenset()


class Loader(Protocol):
    """A backup to load into the target (a backup database, or a dump)."""

    @property
    def source(self) -> str:
        """Return what the backup is, for messages and the mark (``backup 'prod_bk' on db1:27017``)."""
        ...

    @property
    def name(self) -> str:
        """Return the backup's name for the history record."""
        ...

    @property
    def plan(self) -> LoadPlan:
        """Return what the backup holds."""
        ...

    async def load(self, side: Side, staging: Staging, progress: Progress) -> LoadResult:
        """Load every collection at ``staging.where(name)`` with its indexes and options, checked against the backup.

        Views are not created. Raise VerificationError (or TargetInUse) when what was loaded differs
        from the backup.
        """
        ...


@dataclass
class _Run:
    """What one restore found and did, for its result."""

    started_at: datetime = field(default_factory=utcnow)
    from_version: int = 0
    documents: int = 0
    plan: SwapPlan | None = None
    dropped: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


async def replace_database(side: Side, target: TargetOptions, loader: Loader, progress: Progress) -> RestoreResult:
    """Replace the database of ``side`` with what ``loader`` loads (the steps of this module); return what was done."""
    started, db, pause, run = time.monotonic(), side.db, Pauses(PAUSE_ENV).pause, _Run()
    async with restore_lock(
        db.client, db.name, lease_s=target.lease_s, wait_s=target.lock_wait_s, progress=progress
    ) as lock:
        finished = await _finish_unfinished(side, target, progress, pause)
        if finished is not None:
            run.notes.append(f"finished the half-done swap of an earlier restore from {finished[0].source}")
            if finished[0].source == loader.source:
                return _result(side, loader, finished[1], run, time.monotonic() - started)
        await wait_for_migrations(db, target.lock_wait_s, progress)
        staging = await Staging.of(db)
        staged, created = staging.split(loader.plan.collections)
        await refuse_sharded(side, staged)
        run.from_version = await _version_before(db, run)
        watches = [await WriteWatch.start(db)]
        swap = SwapProgress()
        await staging.begin(source=loader.source, lock_db=lock.db.name, staged=staged, created=created)
        try:
            loaded = await loader.load(side, staging, progress)
            lock.check()
            await pause("loaded")
            plan = run.plan = await _prepare(staging, loader, loaded, run)
            await _refuse_others(db, watches[0], staging)
            lock.check()
            await staging.commit(plan.to_doc())
            swap.started = True
            watches.append(after := await WriteWatch.from_now(db))
            await run_swap(side, plan, progress, swap, pause, batch_size=target.batch_size)
            swap.swapped = True
            await pause("swapped")
            differences, lines = await check_swapped(db, plan, counts=after.by == "counts")
            others = await after.writes(plan.rebuilt.__contains__, staging.probe)
            await staging.finish()
        except BaseException as exc:
            raise await _stopped(db, loader, swap, exc) from exc
        finally:
            for watch in watches:
                await watch.close()
    _after_the_swap(db.name, loader.source, others or Writes("counts", differences), lines)
    log.info("restored %s from %s", db.name, loader.source)
    return _result(side, loader, plan, run, time.monotonic() - started)


async def _prepare(staging: Staging, loader: Loader, loaded: LoadResult, run: _Run) -> SwapPlan:
    """Keep the later history, record the restore, and return the swap's plan (read from what was loaded)."""
    db = staging.db
    run.documents = sum(loaded.counts.values())
    counts: dict[str, int | None] = {n: None if n in loaded.ttl else c for n, c in loaded.counts.items()}
    where = {name: staging.where(name) for name in counts}
    version = await read_version(db, where[VERSION_COLLECTION]) if VERSION_COLLECTION in where else 0
    record = RestoreRecord(loader.source, loader.name, version, run.from_version, run.started_at)
    history = await carry_history(db, where.get(HISTORY_COLLECTION), HISTORY_COLLECTION in staging.existing, record)
    if history is not None:
        where[HISTORY_COLLECTION] = history
        counts[HISTORY_COLLECTION] = await db[history].count_documents({})
    restored = await describe_loaded(db, where, counts)
    current = await namespaces(db)
    view_names = {n for n, _ in loader.plan.views}
    drop = sorted(n for n, i in current.items() if n not in where and n not in KEPT and kind_of(i) is not Kind.VIEW)
    run.dropped = sorted(drop + [n for n, i in current.items() if kind_of(i) is Kind.VIEW and n not in view_names])
    return SwapPlan(tuple(restored), tuple(drop), loader.plan.views, version)


async def _refuse_others(db: AsyncDatabase[Any], watch: WriteWatch, staging: Staging) -> None:
    """Raise before the swap if a migration run started or another client wrote to the target during the load."""
    started = await migration_started(db)
    if started is not None:
        raise started
    mark = await read_mark(db)
    ours = frozenset(mark.created if mark is not None else ())  # what the load created, as the mark records it
    writes = await watch.writes(lambda n: n in ours, staging.probe)
    if writes:
        raise TargetInUse(
            f"another client wrote to database {db.name!r} during the restore ({writes.describe()}): the restore "
            f"did not take effect; {db.name!r} holds its own data, with those writes",
            hint="stop the application (analytiq-db restore --check shows who is connected and writing), "
            "then run the restore again",
        )


def _after_the_swap(db: str, source: str, others: Writes, lines: list[str]) -> None:
    """Raise if the target differs from what was swapped in: others' writes (exit 5), else definitions (7)."""
    if others:
        raise TargetInUse(
            f"the restore took effect ({db!r} holds {source} since the swap) but another client wrote to it after "
            f"the swap ({others.describe()}): those writes are in the restored database",
            hint="stop the application; run the restore again if those writes must not stay",
        )
    if lines:
        shown = first_few(lines, 3)
        raise VerificationError(
            f"the restore took effect but database {db!r} differs from what was loaded after the swap: {shown}",
            hint="another client may have changed its definitions during the swap; see the log (-v)",
        )


async def _stopped(db: AsyncDatabase[Any], loader: Loader, swap: SwapProgress, exc: BaseException) -> BaseException:
    """Clean up after a stopped restore and return the error to raise (``exc`` itself when it says enough)."""
    removed = False
    try:
        if not swap.started:
            await remove_partial_load(db, await read_mark(db))
            removed = True
        elif swap.swapped:
            await Staging(db, frozenset()).finish()
    except PyMongoError as failure:
        log.warning("could not clean up after the stopped restore of %s: %s", db.name, failure)
    said = stopped_error(exc, db=db.name, backup=loader.source, swap=swap, removed=removed)
    return exc if said is None else said


async def _finish_unfinished(
    side: Side, target: TargetOptions, progress: Progress, pause: Pause
) -> tuple[RestoreMark, SwapPlan] | None:
    """Finish an earlier restore's half-done swap (return its mark and plan), or remove its partial load."""
    db = side.db
    mark = await read_mark(db)
    if mark is None:
        return None
    if not mark.mid_swap:
        progress.note(f"an earlier restore from {mark.source} stopped while loading ({mark.who()}): removing its load")
        await remove_partial_load(db, mark)
        return None
    progress.note(f"found a half-done swap of an earlier restore from {mark.source} ({mark.who()}): finishing it")
    plan = SwapPlan.from_doc(mark.swap)
    await run_swap(side, plan, progress, SwapProgress(started=True), pause, batch_size=target.batch_size)
    differences, lines = await check_swapped(db, plan)
    await Staging(db, frozenset()).finish()
    _after_the_swap(db.name, mark.source, Writes("counts", differences), lines)
    progress.note(f"finished the swap of the restore from {mark.source}")
    return mark, plan


async def refuse_sharded(side: Side, staged: list[str]) -> None:
    """Raise ConfigurationError if a collection the restore replaces is sharded (through mongos)."""
    if side.identity.topology != "sharded" or not staged:
        return
    async with side.errors("reading which collections are sharded"):
        found = await _sharded(side.db, staged)
    if found:
        raise sharded_refusal(side.db.name, found)


async def _sharded(db: AsyncDatabase[Any], names: list[str]) -> list[str]:
    """Return which of ``names`` are sharded: ``config.collections``, else (not allowed to read it) ``collStats``."""
    query = {"_id": {"$in": [f"{db.name}.{n}" for n in names]}, "dropped": {"$ne": True}, "unsplittable": {"$ne": True}}
    try:
        found = [str(d["_id"]) async for d in db.client["config"]["collections"].find(query, {"_id": 1})]
        return sorted(f.split(".", 1)[1] for f in found)
    except OperationFailure as exc:
        log.info("config.collections not readable (%s): asking collStats", exc)
    return [n for n in names if (await db.command("collStats", n)).get("sharded")]


def sharded_refusal(db: str, sharded: list[str]) -> ConfigurationError:
    """Return the refusal for restoring over sharded collections (a rename would leave them unsharded)."""
    shown = first_few(sharded, 5, ", ")
    return ConfigurationError(
        f"database {db!r} has sharded collections the restore would replace ({shown}): restore swaps whole "
        "collections in by renaming, which would leave them unsharded; nothing changed",
        hint="restore those collections with mongorestore (it inserts into the sharded collection as it "
        "exists; use --drop only to unshard), or drop them and shard them again after the restore",
    )


async def _version_before(db: AsyncDatabase[Any], run: _Run) -> int:
    """Return the target's version before the restore; 0, with a note, when its version document is unreadable.

    The restore replaces that document, so a damaged one (1.5, a string) must not stop the recovery: it is
    said in the result and recorded in the history as version 0.
    """
    try:
        return await read_version(db, VERSION_COLLECTION)
    except MigrationError as exc:
        note = f"the database's own version document was unreadable ({exc.message}): recorded as version 0"
        log.warning("%s", note)
        run.notes.append(note)
        return 0


async def read_version(db: AsyncDatabase[Any], collection: str) -> int:
    """Return the version recorded in ``collection`` of ``db`` (0 when none), read as ``StateStore`` reads it:
    MigrationError if it is not a whole number."""
    return parse_version(await db[collection].find_one({"_id": VERSION_ID})).version


def _result(side: Side, loader: Loader, plan: SwapPlan | None, run: _Run, seconds: float) -> RestoreResult:
    plan = plan or SwapPlan(())
    return RestoreResult(
        database=side.db.name,
        backup=loader.name,
        source=loader.source,
        version=plan.version,
        collections=tuple(sorted(c.name for c in plan.collections)),
        dropped=tuple(run.dropped or plan.drop),
        views=tuple(n for n, _ in plan.views),
        documents=run.documents or sum(c.count or 0 for c in plan.collections),
        verified=True,
        seconds=seconds,
        notes=tuple(run.notes),
    )
