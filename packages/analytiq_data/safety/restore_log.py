"""``restore --from-log DIR --at WHEN``: the database as it was at a moment, built beside it from a base and the log.

Before anything is touched: the moment is resolved (``Timestamp(s, i)``, an ISO-8601 wall time, or
just before migration N, see ``log_moment``), and the log is planned and checked (``backup.log.
reader``: the moment in a restorable range, the base's and segments' sizes and CRC-64s as the
catalog says). Then, under the database's migration lock, as ``restore --archive`` does:

1. the base is loaded into the staging database and checked (``restore_files.rebuild_base``);
2. the log's events after the base's T and up to the moment are replayed on it (``backup.log.
   replay``), and each collection's count is checked against the base's count plus the log's
   inserts minus its deletes;
3. the staged collections are swapped in through ``swap_in`` (the one seam to the swap) and the
   counts checked again. Any failure before the swap drops the staging database: nothing changed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass
from typing import Any

from bson.timestamp import Timestamp
from pymongo import AsyncMongoClient
from pymongo.errors import PyMongoError

from analytiq_data.backup.catalog import STATE_COLLECTION, copied_namespace
from analytiq_data.backup.consistent.dumpfile import CATCHUP_COLLECTION
from analytiq_data.backup.consistent.point import ts_doc, ts_text
from analytiq_data.backup.endpoints import Side
from analytiq_data.backup.files.load import has_ttl, is_capped
from analytiq_data.backup.files.metadata import Metadata
from analytiq_data.backup.log.catalog import when_text
from analytiq_data.backup.log.reader import LogPlan, plan_restore
from analytiq_data.backup.log.replay import Replay, count_differences, staged_counts
from analytiq_data.backup.options import DEFAULT_BATCH_SIZE
from analytiq_data.errors import ConfigurationError, VerificationError
from analytiq_data.migrations.engine.lock import (
    DEFAULT_LEASE_S,
    DEFAULT_LOCK_WAIT_S,
    LOCK_COLLECTION,
    MigrationLock,
    held_error,
)
from analytiq_data.migrations.engine.prestep import set_phase
from analytiq_data.migrations.engine.state import StateStore
from analytiq_data.progress import NULL_PROGRESS, Progress
from analytiq_data.safety.log_moment import resolve_moment
from analytiq_data.safety.restore import PHASE, RestoreOptions, _swap
from analytiq_data.safety.restore_files import FileRestoreOptions, _connected, _rebuild, open_dump
from analytiq_data.safety.results import RestoreResult
from analytiq_data.settings import DEFAULT_TIMEOUT_S, validate_db_name

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LogRestoreOptions:
    """Restore database ``db`` at ``uri`` from the event log in ``log_dir`` as of ``at`` (or before migration N).

    ``at`` is a cluster time (``Timestamp``), or text: ``Timestamp(s, i)`` or an ISO-8601 wall time.
    ``before_migration`` is a version N: the moment just before step N (up) began.
    """

    uri: str
    db: str
    log_dir: str
    at: Timestamp | str | None = None
    before_migration: int | None = None
    batch_size: int = DEFAULT_BATCH_SIZE
    timeout_s: float = DEFAULT_TIMEOUT_S
    lock_wait_s: float = DEFAULT_LOCK_WAIT_S
    lease_s: float = DEFAULT_LEASE_S

    def __post_init__(self) -> None:
        validate_db_name(self.db)
        if (self.at is None) == (self.before_migration is None):
            raise ConfigurationError(
                "give one moment: --at WHEN or --before-migration N", hint="e.g. --at 'Timestamp(1717000000, 3)'"
            )
        if self.before_migration is not None and self.before_migration < 1:
            raise ConfigurationError(f"--before-migration must be a version from 1, got {self.before_migration}")

    def file_options(self, base: str) -> FileRestoreOptions:
        """Return the restore-from-files options that load the base ``base`` (an archive)."""
        return FileRestoreOptions(
            uri=self.uri,
            db=self.db,
            archive=base,
            batch_size=self.batch_size,
            timeout_s=self.timeout_s,
            lock_wait_s=self.lock_wait_s,
            lease_s=self.lease_s,
        )


@dataclass(frozen=True)
class LogRestoreResult:
    """A restore to a moment: the restore itself, the moment (and how it was named), the base, the events replayed."""

    restore: RestoreResult
    moment: Timestamp
    named: str
    base_at: Timestamp
    events: int

    def to_json(self) -> dict[str, Any]:
        """Return the result as JSON data (the restore's fields, plus the moment)."""
        return {
            **self.restore.to_json(),
            "moment": ts_doc(self.moment),
            "moment_text": ts_text(self.moment),
            "moment_named": self.named,
            "base_at": ts_doc(self.base_at),
            "events_replayed": self.events,
        }


def replayed(name: str) -> bool:
    """Return whether a logged collection is replayed at restore (user data: not the lock nor our own state)."""
    return copied_namespace(name) and name not in (LOCK_COLLECTION, STATE_COLLECTION, CATCHUP_COLLECTION)


async def plan_log_restore(options: LogRestoreOptions) -> tuple[LogPlan, str]:
    """Resolve the moment and plan the restore, reading only the log (OutOfRange, LogDamaged: nothing touched)."""
    moment, named = await asyncio.to_thread(resolve_moment, options.log_dir, options.at, options.before_migration)
    plan = await asyncio.to_thread(plan_restore, options.log_dir, moment)
    return plan, named


async def restore_to_moment(options: LogRestoreOptions, progress: Progress = NULL_PROGRESS) -> LogRestoreResult:
    """Replace database ``options.db`` with its state at the moment, from the log, under the migration lock.

    Raises OutOfRange (exit 3: the moment is not restorable; the ranges are named), LogDamaged
    (exit 3), ConfigurationError, LockError or VerificationError; before the swap nothing changed.
    """
    started = time.monotonic()
    plan, named = await plan_log_restore(options)
    files = options.file_options(str(plan.base_path))
    source, dump_db, metas = await asyncio.to_thread(open_dump, files)
    progress.note(f"restoring {options.db} to {when_text(plan.moment)} ({named}): base at {ts_text(plan.base_at)}")
    try:
        async with _connected(files) as (client, live):
            lock = MigrationLock(live.db, lease_s=options.lease_s)
            got = await lock.acquire(options.lock_wait_s, progress=progress)
            if got.outcome != "held":
                raise held_error(got.holder, options.lock_wait_s)
            try:
                lock.start_renewing()
                await set_phase(lock, PHASE)
                swap = files.swap_options(dump_db)
                stage = Side("destination", live.where, client[swap.tmp_db], live.identity)
                loaded = await _rebuild(stage, source, metas, files, progress)
                counts, events = await _replay(stage, plan, dump_db, metas, loaded_counts(loaded), progress)
                lock.check()
                collections, dropped, views = await swap_in(client, swap, progress)
                lock.check()
                await _check_live(live, counts, _skipped(metas), options)
                await client.drop_database(swap.tmp_db)
                version = (await StateStore(live.db).read_version()).version
            finally:
                await lock.release()
    finally:
        source.close()
    log.info("restored %s to %s from the log in %s", options.db, ts_text(plan.moment), options.log_dir)
    result = RestoreResult(
        database=options.db,
        backup=f"{options.log_dir} at {ts_text(plan.moment)}",
        source=options.log_dir,
        version=version,
        collections=tuple(collections),
        dropped=tuple(dropped),
        views=tuple(views),
        documents=sum(counts.values()),
        verified=True,
        seconds=time.monotonic() - started,
    )
    return LogRestoreResult(result, plan.moment, named, plan.base_at, events)


def loaded_counts(loaded: dict[str, Any]) -> dict[str, int]:
    """Return each loaded collection's count (what the base holds at its T)."""
    return {name: int(entry.count) for name, entry in loaded.items()}


def _skipped(metas: list[Metadata]) -> frozenset[str]:
    """Return the collections whose counts the server itself may change (TTL, capped): not checked."""
    return frozenset(m.collection for m in metas if has_ttl(m) or is_capped(m))


async def _replay(
    stage: Side, plan: LogPlan, dump_db: str, metas: list[Metadata], base: dict[str, int], progress: Progress
) -> tuple[dict[str, int], int]:
    """Replay the log on the staging database up to the moment and check the counts; drop it on any failure."""
    replay = Replay(stage.db, dump_db, replayed, expected=dict(base), progress=progress)
    total = sum(int(s.get("events", 0)) for s in plan.segments) or None
    replay.start(total)
    try:
        async with stage.errors("replaying the log"):
            for events in plan.events():
                if not await replay.apply(events, plan.moment, plan.base_at):
                    break
            found = await staged_counts(stage.db, replay.expected)
        progress.finish("replay", f"{replay.events:,} events replayed up to {ts_text(plan.moment)}")
        differences = count_differences(replay.expected, found, _skipped(metas))
        if differences:
            raise VerificationError(
                f"the database rebuilt from the log differs from what the log implies (untouched): "
                f"{'; '.join(differences[:3])}",
                hint="the log may be damaged; see the log file (-v)",
            )
        return found, replay.events
    except BaseException:
        with contextlib.suppress(PyMongoError):
            await stage.db.client.drop_database(stage.db.name)
        raise


async def swap_in(
    client: AsyncMongoClient[Any], swap: RestoreOptions, progress: Progress
) -> tuple[list[str], list[str], list[str]]:
    """Swap the staged collections into the database: the one call to the restore's swap (the seam to re-point)."""
    return await _swap(client, swap, progress)


async def _check_live(live: Side, counts: dict[str, int], skip: frozenset[str], options: LogRestoreOptions) -> None:
    """Raise VerificationError if the database's counts after the swap differ from the staged ones."""
    async with live.errors("checking the restored database"):
        found = await staged_counts(live.db, counts)
    differences = count_differences(counts, found, skip)
    if differences:
        raise VerificationError(
            f"database {options.db!r} differs from the rebuilt one after the swap: {'; '.join(differences[:3])}",
            hint="run the same restore again",
        )
