"""``restore --from-log DIR --at WHEN``: the database as it was at a moment, built beside it from a base and the log.

Before anything is touched: the moment is resolved (``Timestamp(s, i)``, an ISO-8601 wall time, or
just before migration N, see ``log_moment``), and the log is planned and checked (``backup.log.
reader``: the moment in a restorable range, the base's and segments' sizes and CRC-64s as the
catalog says). Then the restore runs as every restore does (``restore_run.replace_database``: its
lock, the mark, the load inside the target, the swap, the checks), with ``LogLoader`` as the loader:

1. the base is loaded as a dump is (``restore_files.DumpLoader``: checked as it loads);
2. the log's events after the base's T and up to the moment are replayed on the load (``backup.log.
   replay``), and each collection's count is checked against the base's count plus the log's
   inserts minus its deletes.

Any failure before the swap removes the load: nothing changed.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

from bson.timestamp import Timestamp

from analytiq_data.backup.catalog import STATE_COLLECTION, copied_namespace
from analytiq_data.backup.consistent.dumpfile import CATCHUP_COLLECTION
from analytiq_data.backup.consistent.point import ts_doc, ts_text
from analytiq_data.backup.ddl import has_ttl
from analytiq_data.backup.endpoints import Side
from analytiq_data.backup.files.load import is_capped
from analytiq_data.backup.files.metadata import Metadata
from analytiq_data.backup.log.catalog import when_text
from analytiq_data.backup.log.reader import LogPlan, plan_restore
from analytiq_data.backup.log.replay import Replay, count_differences
from analytiq_data.backup.options import DEFAULT_BATCH_SIZE, DEFAULT_PARALLEL
from analytiq_data.errors import ConfigurationError, VerificationError
from analytiq_data.migrations.engine.lock import DEFAULT_LEASE_S, DEFAULT_LOCK_WAIT_S, LOCK_COLLECTION
from analytiq_data.progress import NULL_PROGRESS, Progress
from analytiq_data.safety.log_moment import resolve_moment
from analytiq_data.safety.restore_files import DumpLoader, FileRestoreOptions, connected_target, open_dump
from analytiq_data.safety.restore_run import LoadPlan, LoadResult, replace_database
from analytiq_data.safety.results import RestoreResult
from analytiq_data.safety.staging import Staging
from analytiq_data.settings import DEFAULT_TIMEOUT_S

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LogRestoreOptions:
    """Restore database ``db`` at ``uri`` from the event log in ``log_dir`` as of ``at`` (or before migration N).

    ``at`` is a cluster time (``Timestamp``), or text: ``Timestamp(s, i)`` or an ISO-8601 wall time.
    ``before_migration`` is a version N: the moment just before step N (up) began. ``parallel`` is the
    ceiling of inserts in flight while the base loads.
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
    parallel: int = DEFAULT_PARALLEL

    def __post_init__(self) -> None:
        self.file_options(self.log_dir)  # the database's names, --parallel and --batch-size: checked before reading
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
            parallel=self.parallel,
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


async def restore_to_moment(
    options: LogRestoreOptions, progress: Progress = NULL_PROGRESS, plan: tuple[LogPlan, str] | None = None
) -> LogRestoreResult:
    """Replace database ``options.db`` with its state at the moment, from the log (see the module's steps).

    ``plan`` is what ``plan_log_restore(options)`` returned, when the caller made it already (the log
    is then not checked again); None plans here. Raises OutOfRange (exit 3: the moment is not
    restorable; the ranges are named), LogDamaged (exit 3), ConfigurationError, LockError,
    TargetInUse or VerificationError; before the swap nothing changed.
    """
    chosen, named = plan or await plan_log_restore(options)
    files = options.file_options(str(chosen.base_path))
    source, dump_db, metas = await asyncio.to_thread(open_dump, files)
    progress.note(f"restoring {options.db} to {when_text(chosen.moment)} ({named}): base at {ts_text(chosen.base_at)}")
    loader = LogLoader(DumpLoader(source, dump_db, metas, files), chosen, options.log_dir)
    try:
        async with connected_target(files) as side:
            result = await replace_database(side, files.target(), loader, progress)
    finally:
        source.close()
    log.info("restored %s to %s from the log in %s", options.db, ts_text(chosen.moment), options.log_dir)
    return LogRestoreResult(result, chosen.moment, named, chosen.base_at, loader.events)


class LogLoader:
    """Loads the base, then replays the log up to the moment: a ``restore_run.Loader``."""

    def __init__(self, base: DumpLoader, plan: LogPlan, log_dir: str) -> None:
        self.base, self.log_plan, self.log_dir = base, plan, log_dir
        self.views: dict[str, dict[str, Any]] = {n: dict(o) for n, o in base.plan.views}
        self.events = 0

    @property
    def source(self) -> str:
        """Return ``event log DIR at Timestamp(s, i)``."""
        return f"event log {self.log_dir} at {ts_text(self.log_plan.moment)}"

    @property
    def name(self) -> str:
        """Return the log and the moment, for the history record."""
        return f"{self.log_dir} at {ts_text(self.log_plan.moment)}"

    @property
    def plan(self) -> LoadPlan:
        """Return the base's collections; the views as of the moment once the log is replayed."""
        return LoadPlan(self.base.plan.collections, tuple(self.views.items()))

    async def load(self, side: Side, staging: Staging, progress: Progress) -> LoadResult:
        """Load the base, replay the log on it up to the moment, and check the counts the log implies."""
        base = await self.base.load(side, staging, progress)
        metas = self.base.metas
        replay = Replay(
            side.db,
            self.base.dump_db,
            replayed,
            expected=dict(base.counts),
            progress=progress,
            where=staging.where,
            on_new=lambda name: staging.note_created([name]),
            known=set(base.counts),
            views=self.views,
        )
        total = sum(int(s.get("events", 0)) for s in self.log_plan.segments) or None
        replay.start(total)
        async with side.errors("replaying the log"):
            for events in self.log_plan.events():
                if not await replay.apply(events, self.log_plan.moment, self.log_plan.base_at):
                    break
            found = {n: await side.db[staging.where(n)].count_documents({}) for n in replay.expected}
        self.events = replay.events
        progress.finish("replay", f"{replay.events:,} events replayed up to {ts_text(self.log_plan.moment)}")
        differences = count_differences(replay.expected, found, _skipped(metas))
        if differences:
            raise VerificationError(
                f"the database rebuilt from the log differs from what the log implies (untouched): "
                f"{'; '.join(differences[:3])}",
                hint="the log may be damaged; see the log file (-v)",
            )
        return LoadResult(found, base.ttl)


def _skipped(metas: list[Metadata]) -> frozenset[str]:
    """Return the collections whose counts the server itself may change (TTL, capped): not checked."""
    return frozenset(m.collection for m in metas if has_ttl(m) or is_capped(m))
