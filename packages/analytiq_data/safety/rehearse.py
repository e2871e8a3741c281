"""Rehearse pending migrations on a scratch copy: up, up again, down, up — and compare each state.

The database is copied (whole, or a sample) into ``<db>_rehearse_<id>`` on the same server with the
backup engine, then each pending migration runs there through the engine's own verbs (its lock,
transactions and session binding, as in production):

1. **up** must succeed; the documents it changed, added or removed are counted;
2. **idempotent**: the version is set back and ``up`` runs again; the data must equal the state
   after the first ``up`` (a crash between a step and its version write re-runs it);
3. **down restores**: ``down`` must bring back the state before ``up``: every document field for
   field and value for value with BSON types (top-level field order aside), indexes, options;
4. **up again**: ``up`` must succeed after ``down``.

A migration declared ``idempotent = False`` or ``reversible = False`` has the matching checks
skipped, not failed. The first failure stops the rehearsal (later migrations are "not run") and its
first differing document is explained. The real database is only read: the lock is not taken there
and nothing is written; the scratch databases are dropped afterwards unless ``keep``.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from pymongo import AsyncMongoClient

from analytiq_data.backup import BackupOptions
from analytiq_data.client import ping
from analytiq_data.errors import ConfigurationError, MigrationError
from analytiq_data.migrations.base import Migration
from analytiq_data.migrations.engine import verbs
from analytiq_data.migrations.engine.lock import LOCK_COLLECTION
from analytiq_data.migrations.engine.options import RunOptions
from analytiq_data.migrations.engine.plan import database_ahead_error, target_for_up
from analytiq_data.migrations.engine.state import StateStore
from analytiq_data.migrations.engine.target import Target
from analytiq_data.migrations.startup import configured_list
from analytiq_data.progress import NULL_PROGRESS, Progress, Rollup, TaskKind, compatible
from analytiq_data.safety.backup_first import fit_name
from analytiq_data.safety.results import (
    CHECKS,
    FAILED,
    NOT_RUN,
    PASSED,
    SKIPPED,
    Check,
    MigrationRehearsal,
    RehearsalResult,
)
from analytiq_data.safety.sample_copy import copy_sample
from analytiq_data.safety.snapshot import (
    BOOKKEEPING,
    Comparison,
    Difference,
    compare,
    copy_database,
    is_bookkeeping,
)
from analytiq_data.settings import DEFAULT_TIMEOUT_S, validate_db_name
from analytiq_data.uri import hosts_of

Outcome = tuple[Check, Difference | None]  # a check, and the difference that made it fail
SCRATCH_OPTIONS = RunOptions(lock_wait_s=30.0, lease_s=30.0)


def scratch_name(db: str) -> str:
    """Return a fresh scratch database name ``<db>_rehearse_<6 hex>`` (``db`` shortened to fit 63 bytes)."""
    return fit_name(db, f"_rehearse_{uuid.uuid4().hex[:6]}__")[:-2]  # room for the snapshots' "_a" / "_b"


def sample_filters(pending: Sequence[Migration]) -> dict[str, list[dict[str, Any]]]:
    """Return, per collection, the filters of the pending migrations (their union selects the sample)."""
    found: dict[str, list[dict[str, Any]]] = {}
    for migration in pending:
        for name, query in migration.sample_filters.items():
            found.setdefault(name, []).append(dict(query))
    return found


async def rehearse(
    target: Any,
    migrations: Sequence[Migration] | None = None,
    *,
    to: int | None = None,
    sample: int | None = None,
    keep: bool = False,
    progress: Progress = NULL_PROGRESS,
    from_log: str | None = None,
) -> RehearsalResult:
    """Rehearse the pending migrations of ``target.env`` (up to ``to``) on a scratch copy; return the findings.

    ``target`` is an AnalytiqClient (or anything with ``mongodb_async``, ``env``, ``uri``; a Target's
    ``driver`` is kept for the steps on the scratch copy); ``migrations`` defaults to the configured
    list (Analytiq's where none is configured). With
    ``sample``, at most that many documents per collection are copied (those the migrations would
    change first). With ``from_log`` (an event log directory of ``analytiq-db follow``), the scratch
    copy is the database as of the log's latest moment, rebuilt from the log (the live database is
    not read for it). Check failures are in the result (``raise_for_failure`` turns them into
    CheckFailed); bad input raises ConfigurationError; the real database is never written.
    """
    checked = configured_list(migrations)
    if sample is not None and sample < 1:
        raise ConfigurationError(f"--sample must be at least 1, got {sample}", hint="e.g. --sample 1000")
    if sample is not None and from_log is not None:
        raise ConfigurationError("--sample and --from-log are two ways to make the scratch copy", hint="pick one")
    uri, db_name = str(getattr(target, "uri", "") or ""), str(target.env)
    if not uri:
        raise ConfigurationError("rehearse needs the client's URI to copy the database", hint="pass an AnalytiqClient")
    validate_db_name(db_name)
    timeout_s = float(getattr(target, "timeout_s", DEFAULT_TIMEOUT_S))
    client: AsyncMongoClient[Any] = target.mongodb_async
    await ping(client, uri, timeout_s)
    if not await client[db_name].list_collection_names():
        raise ConfigurationError(
            f"database {db_name!r} does not exist on {hosts_of(uri)} (it has no collections): nothing to rehearse",
            hint="check --db and --uri",
        )
    started = time.monotonic()
    current = (await StateStore(client[db_name]).read_version()).version
    if current > len(checked):
        raise database_ahead_error(current, len(checked))
    goal = target_for_up(current, len(checked), to)
    if goal == current and from_log is None:
        return RehearsalResult(db_name, None, False, current, goal, sample, 0, notes=("nothing to rehearse",))
    scratch = scratch_name(db_name)
    progress = compatible(progress)
    driver = target.driver if isinstance(target, Target) else "auto"
    rehearsal = _Rehearsal(Target(client, scratch, uri, timeout_s, driver), checked, progress)
    try:
        if from_log is not None:
            copied = await scratch_from_log(uri, db_name, scratch, from_log, timeout_s, progress)
            # the log's latest moment may be behind (or ahead of) the live database: its own version counts
            current = (await StateStore(client[scratch]).read_version()).version
            if current > len(checked):
                raise database_ahead_error(current, len(checked))
            goal = target_for_up(current, len(checked), to)
        else:
            copied = await _make_scratch(
                client, uri, db_name, scratch, sample, checked[current:goal], timeout_s, progress
            )
        rows = await rehearsal.run(current, goal) if goal != current else []
    finally:
        for name in (*rehearsal.snapshots, *(() if keep else (scratch,))):
            await client.drop_database(name)
    notes: tuple[str, ...] = (f"kept the scratch database {scratch}",) if keep else ()
    notes += ("nothing to rehearse",) if goal == current else ()
    return RehearsalResult(
        db_name, scratch, keep, current, goal, sample, copied, tuple(rows), time.monotonic() - started, notes
    )


async def _make_scratch(
    client: AsyncMongoClient[Any],
    uri: str,
    db_name: str,
    scratch: str,
    sample: int | None,
    pending: Sequence[Migration],
    timeout_s: float,
    progress: Progress,
) -> int:
    """Copy the database (without its lock) into ``scratch``, whole or sampled; return the documents copied."""
    label = f"copying {db_name} into the scratch database {scratch}" + (f" (sample {sample})" if sample else "")
    rollup = Rollup(progress, f"scratch {scratch}", label)
    if sample is None:
        result = await copy_database(
            client, uri, db_name, scratch, exclude=(LOCK_COLLECTION,), timeout_s=timeout_s, progress=rollup
        )
        documents = result.documents if result is not None else 0
    else:
        options = BackupOptions(src_uri=uri, src_db=db_name, dest_db=scratch, exclude=(LOCK_COLLECTION,))
        copied = await copy_sample(client, options, sample, sample_filters(pending), rollup, whole=is_bookkeeping)
        documents = copied.total
    rollup.close(f"{documents:,} documents")
    return documents


async def scratch_from_log(
    uri: str, db_name: str, scratch: str, log_dir: str, timeout_s: float, progress: Progress
) -> int:
    """Rebuild ``scratch`` as the database was at the latest moment of the event log in ``log_dir``."""
    from analytiq_data.backup.log.reader import log_ranges
    from analytiq_data.safety.restore_log import LogRestoreOptions, restore_to_moment

    catalog, ranges = log_ranges(log_dir)
    if catalog.data.get("db") != db_name or not ranges:
        raise ConfigurationError(
            f"{log_dir} holds no restorable log of database {db_name!r}", hint="give the --to directory of its follower"
        )
    newest = max(r.end for r in ranges)
    rollup = Rollup(progress, f"scratch {scratch}", f"rebuilding {db_name} from {log_dir} into {scratch}")
    options = LogRestoreOptions(uri=uri, db=scratch, log_dir=log_dir, at=newest, timeout_s=timeout_s)
    result = await restore_to_moment(options, rollup)
    rollup.close(f"{result.restore.documents:,} documents")
    return result.restore.documents


class _Rehearsal:
    """Runs the checks of each pending migration on the scratch database."""

    def __init__(self, scratch: Target, migrations: tuple[Migration, ...], progress: Progress) -> None:
        self.scratch = scratch
        self.client = scratch.mongodb_async
        self.db = self.client[scratch.env]
        self.migrations = migrations
        self.progress = progress
        self.snapshots = (f"{scratch.env}_a", f"{scratch.env}_b")

    async def run(self, current: int, goal: int) -> list[MigrationRehearsal]:
        """Rehearse versions ``current+1 … goal`` in order, stopping at the first failure."""
        rows: list[MigrationRehearsal] = []
        for version in range(current + 1, goal + 1):
            m = self.migrations[version - 1]
            if rows and not rows[-1].passed:
                rows.append(
                    MigrationRehearsal(version, m.name, m.description, tuple(Check(c, NOT_RUN) for c in CHECKS))
                )
                continue
            rows.append(await self.one(version, m))
        return rows

    async def snapshot(self, name: str) -> None:
        """Copy the scratch database's data (not its bookkeeping) into snapshot ``name``."""
        exclude = BOOKKEEPING
        rollup = Rollup(self.progress, f"snapshot {name}", "snapshot of the scratch data")
        result = await copy_database(
            self.client,
            self.scratch.uri,
            self.scratch.env,
            name,
            exclude=exclude,
            timeout_s=self.scratch.timeout_s,
            progress=rollup,
        )
        rollup.close(f"{result.documents if result is not None else 0:,} documents")

    async def step(self, direction: str, to: int) -> str | None:
        """Run the engine's ``up``/``down`` on the scratch database to version ``to``; return the error, if any."""
        try:
            if direction == "up":
                await verbs.up(self.scratch, self.migrations, to, options=SCRATCH_OPTIONS, progress=self.progress)
            else:
                await verbs.down(self.scratch, self.migrations, to, options=SCRATCH_OPTIONS, progress=self.progress)
        except MigrationError as exc:
            return " ".join(exc.message.split())  # the hint speaks of the scratch database: left out
        return None

    async def compare_with(self, snapshot: str) -> Comparison:
        """Return how the scratch database differs from ``snapshot``."""
        task = f"compare {snapshot}"
        self.progress.start(task, None, "steps", kind=TaskKind.PHASE, label="comparing with the snapshot")
        found = await compare(self.client[snapshot], self.db)
        self.progress.finish(task, "same" if found.same else found.summary())
        return found

    async def one(self, version: int, m: Migration) -> MigrationRehearsal:
        """Rehearse one migration: up, idempotent, down restores, up again."""
        t0 = time.monotonic()
        before, after_up = self.snapshots
        self.progress.note(f"rehearsing version {version} ({m.name})")
        await self.snapshot(before)
        error = await self.step("up", version)
        changes = await self.compare_with(before)
        up = Check("up", FAILED if error else PASSED, error, round(time.monotonic() - t0, 3))
        results: list[Outcome] = [(up, changes.first if error else None)]
        if not error:
            results.append(await self.idempotent(version, m, after_up))
            if results[-1][0].status != FAILED:
                results += await self.reversal(version, m, before)
        found = {check.name: check for check, _ in results}
        rows = tuple(found.get(name) or Check(name, NOT_RUN) for name in CHECKS)
        diff = next((d for check, d in results if check.status == FAILED), None)
        self.progress.note(f"version {version} ({m.name}): " + ", ".join(f"{c.name} {c.cell()}" for c in rows))
        return MigrationRehearsal(version, m.name, m.description, rows, changes.documents, time.monotonic() - t0, diff)

    async def idempotent(self, version: int, m: Migration, after_up: str) -> Outcome:
        """Run ``up`` a second time (the version set back) and compare with the state after the first."""
        if not m.idempotent:
            return Check("idempotent", SKIPPED, "declared not idempotent"), None
        t0 = time.monotonic()
        await self.snapshot(after_up)
        await StateStore(self.db).write_version(version, version - 1)
        error = await self.step("up", version)
        changes = await self.compare_with(after_up)
        took = round(time.monotonic() - t0, 3)
        if error:
            return Check("idempotent", FAILED, f"up failed when run again: {error}", took), changes.first
        if not changes.same:
            reason = f"running up again changed the data: {changes.summary()}"
            return Check("idempotent", FAILED, reason, took), changes.first
        return Check("idempotent", PASSED, None, took), None

    async def reversal(self, version: int, m: Migration, before: str) -> list[Outcome]:
        """Run ``down`` and compare with the state before ``up``; then ``up`` again."""
        if not m.reversible:
            why = "declared irreversible"
            return [(Check("down restores", SKIPPED, why), None), (Check("up again", SKIPPED, why), None)]
        t0 = time.monotonic()
        error = await self.step("down", version - 1)
        changes = await self.compare_with(before)
        took = round(time.monotonic() - t0, 3)
        if error:
            return [(Check("down restores", FAILED, f"down failed: {error}", took), changes.first)]
        if not changes.same:
            reason = f"the data after down differs from before up: {changes.summary()}"
            return [(Check("down restores", FAILED, reason, took), changes.first)]
        restored = Check("down restores", PASSED, None, took)
        t0 = time.monotonic()
        error = await self.step("up", version)
        again = Check("up again", FAILED if error else PASSED, error and f"up failed after down: {error}")
        return [(restored, None), (replace(again, seconds=round(time.monotonic() - t0, 3)), None)]
