"""The backup as a whole: check, plan (or resume), copy collections in parallel, views, result.

``backup()`` and ``verify()`` are the two public verbs of the engine. Neither prints: they report
through a ``Progress`` and return a ``BackupResult``; a copy that does not verify raises
``CopyMismatch`` (a ``VerificationError``, exit code 7) carrying the result.
"""

from __future__ import annotations

import contextlib
import logging
import time
from typing import Any

from analytiq_data.backup.busy import Busy, busy_error, busy_marker, watched
from analytiq_data.backup.catalog import collection_infos
from analytiq_data.backup.claim import DestinationClaim, claimed
from analytiq_data.backup.consistent.run import Watch
from analytiq_data.backup.copy import clear_ranges, create_collection, gather_all
from analytiq_data.backup.endpoints import Endpoints, Side, open_endpoints
from analytiq_data.backup.manifest import Manifest, remove_manifest, write_manifest
from analytiq_data.backup.options import BackupOptions
from analytiq_data.backup.pacing import ConcurrencyReport
from analytiq_data.backup.pipeline import Pipeline, create_view
from analytiq_data.backup.plan import STATE_COLLECTION, Intent, Kind, Plan, build_plan
from analytiq_data.backup.results import BackupResult, CollectionReport, CopyMismatch
from analytiq_data.backup.state import BackupState
from analytiq_data.errors import ConfigurationError
from analytiq_data.progress import NULL_PROGRESS, Progress, compatible

log = logging.getLogger(__name__)


async def backup(options: BackupOptions, progress: Progress = NULL_PROGRESS) -> BackupResult:
    """Copy the source database to the destination, verify it, and return what was done.

    Refuses (ConfigurationError) a source and destination that are the same database, a missing
    source database, and a non-empty destination unless ``drop`` or ``resume``; refuses (LockError)
    a source another tool is changing (a live busy marker such as the migration lock), and stops
    with LockError if one appears during the copy. Never writes to the source. A copy that did not
    fail verification is recorded as complete in the destination (``manifest``). With ``dry_run``,
    only plans and returns what would be copied.
    """
    started = time.monotonic()
    progress = compatible(progress)
    async with open_endpoints(options) as ends, contextlib.AsyncExitStack() as held:
        await _require_source(ends)
        state = BackupState(ends.dst.db)
        if options.dry_run:
            return await _dry_run(options, ends, state, started, progress)
        await _refuse_busy(ends)
        watch = await Watch.begin(options, ends)  # before anything is read (refuses --consistent on a standalone)
        claim = await held.enter_async_context(claimed(ends.dst, progress))  # one backup per destination
        resumed = await _prepare_destination(options, ends, state, claim, progress)
        plan = await _plan(options, ends, state, resumed, progress)
        await watch.attach(state, resumed)
        progress.note(f"Found {len(plan.intents)} collections to backup")

        async def stopped(busy: Busy) -> BaseException:
            return await _stopped_by(ends, state, busy)

        reports, concurrency = await watched(_copy(options, ends, state, plan, resumed, progress), ends.src.db, stopped)
        async with ends.src.errors("reading the busy markers"):
            busy = await busy_marker(ends.src.db)
        if busy is not None:
            raise await _stopped_by(ends, state, busy)
        reports, point, notes = await watch.finish(reports, progress)  # --consistent: catch up to T, check at T
        result = BackupResult.of(
            reports,
            mode="copy",
            src_db=options.src_db,
            dest_db=options.dest_db,
            source=ends.src_uri,
            destination=ends.dst_uri,
            seconds=time.monotonic() - started,
            resumed=resumed,
            concurrency=concurrency,
            notes=tuple(notes),
            point_in_time=point,
        )
        claim.check()  # another backup took the destination over meanwhile: this copy proves nothing
        if result.verified is False:  # keep the resume state: --resume copies again only what differs
            async with ends.dst.errors("recording what to copy again"):
                await state.redo([r.name for r in result.reports if r.verified is False])
            raise CopyMismatch(result, resumable=True)
        async with ends.dst.errors("recording the backup as complete"):
            await write_manifest(ends.dst.db, Manifest.from_result(result))
            await state.clear()
    return result


async def _refuse_busy(ends: Endpoints) -> None:
    """Raise LockError if another tool is changing the source (a live busy marker)."""
    async with ends.src.errors("reading the busy markers"):
        busy = await busy_marker(ends.src.db)
    if busy is not None:
        raise busy_error(busy, ends.src.db.name, ends.src.where, during=False)


async def _stopped_by(ends: Endpoints, state: BackupState, busy: Busy) -> BaseException:
    """Mark the interrupted copy as not resumable (it saw the source change) and return the error to raise."""
    async with ends.dst.errors("recording why the copy stopped"):
        await state.mark_unusable(f"the source started being changed during the copy: {busy.describe()}")
    return busy_error(busy, ends.src.db.name, ends.src.where, during=True)


async def _require_source(ends: Endpoints) -> dict[str, dict[str, Any]]:
    infos = await collection_infos(ends.src)
    if not infos:
        raise ConfigurationError(
            f"source database {ends.src.db.name!r} does not exist on {ends.src.where} (it has no collections)",
            hint="check --src and --src-uri",
        )
    return infos


async def _prepare_destination(
    options: BackupOptions, ends: Endpoints, state: BackupState, claim: DestinationClaim, progress: Progress
) -> bool:
    """Make the destination (claimed by this run) ready; return whether this run resumes an interrupted one."""
    dst = ends.dst
    names = set(await collection_infos(dst, everything=True))
    async with dst.errors("reading the resume state"):
        has_state = await state.exists()
    if not has_state:
        names.discard(STATE_COLLECTION)  # only this run's claim, or a plan whose saving never finished
    if options.resume:
        if has_state:
            async with dst.errors("resuming the copy"):
                await remove_manifest(dst.db)
                await state.adopt()
            return True
        if names <= {STATE_COLLECTION}:
            progress.note("Nothing to resume in the destination: starting a new backup")
            return False
        raise ConfigurationError(
            f"destination database {dst.db.name!r} on {dst.where} is not empty and holds no interrupted backup",
            hint="use --drop to replace it",
        )
    if options.drop:
        if names:
            async with dst.errors(f"dropping {dst.db.name!r}"):
                await dst.db.client.drop_database(dst.db.name)
            await claim.take()  # the drop took the claim with it (a run that took it meanwhile wins)
            progress.note(f"Dropped destination database {dst.db.name!r}")
        return False
    if names:
        hint = "use --drop to replace it, or --resume to finish an interrupted backup"
        if has_state:
            hint = "it holds an interrupted backup: use --resume to finish it, or --drop to start over"
        raise ConfigurationError(
            f"destination database {dst.db.name!r} on {dst.where} is not empty ({len(names)} collections)", hint=hint
        )
    return False


async def _plan(options: BackupOptions, ends: Endpoints, state: BackupState, resumed: bool, progress: Progress) -> Plan:
    """Return the saved plan when resuming, else a new one (saved before any data is written)."""
    if resumed:
        async with ends.dst.errors("reading the resume state"):
            header = await state.header() or {}
            plan = await state.load_plan()
        if header.get("unusable"):
            raise ConfigurationError(
                f"the interrupted backup in {options.dest_db!r} cannot be resumed: {header['unusable']}",
                hint="start over with --drop",
            )
        if header.get("src_db") != options.src_db:
            raise ConfigurationError(
                f"the interrupted backup in {options.dest_db!r} copied from {header.get('src_db')!r}, "
                f"not {options.src_db!r}",
                hint="resume with the same --src, or use --drop to start over",
            )
        return plan
    async with ends.src.errors("planning the copy"):
        plan = await build_plan(ends.src.db, options, progress=progress)
    if not plan.intents:
        raise ConfigurationError(
            f"no collection of {options.src_db!r} matches --include/--exclude", hint="check the patterns"
        )
    async with ends.dst.errors("saving the resume state"):
        await state.save_plan(plan, src_db=options.src_db, source=ends.src.where)
    return plan


async def _copy(
    options: BackupOptions, ends: Endpoints, state: BackupState, plan: Plan, resumed: bool, progress: Progress
) -> tuple[list[CollectionReport], ConcurrencyReport]:
    """Copy every collection of ``plan`` (in parallel, largest first), then its views in order.

    Return the reports and the levels of inserts in flight the copy used.
    """
    async with ends.dst.errors("reading the resume state"):
        done_ranges = await state.done_ranges() if resumed else {}
        done = await state.done_collections() if resumed else {}
    existing = set(await collection_infos(ends.dst, everything=True))
    pipeline = Pipeline(ends.src, ends.dst, options, progress, state, done_ranges, resumed)
    todo: list[Intent] = []
    reports: dict[str, CollectionReport] = {}
    for intent in plan.collections:
        if intent.name in done:
            reports[intent.name] = done[intent.name]
            progress.note(f"✓ {intent.name}: already copied before the interruption")
            continue
        await _make_ready(ends.dst, intent, intent.name in existing, pipeline)
        todo.append(intent)
    for report in await gather_all(pipeline.run(i) for i in todo):
        reports[report.name] = report
    for view in plan.views:
        if view.name in done:
            reports[view.name] = done[view.name]
            continue
        report = await create_view(ends.src, ends.dst, view, exists=view.name in existing, verify=options.verify)
        await state.collection_done(report)
        progress.note(f"✓ Created view {view.name} on {view.view_on}")
        reports[view.name] = report
    return [reports[i.name] for i in plan.intents if i.name in reports], pipeline.concurrency()


async def _make_ready(dst: Side, intent: Intent, exists: bool, pipeline: Pipeline) -> None:
    """Create the destination collection; a resumed one is kept as it is (never dropped: see ``reconcile``).

    Only a time-series collection (no unique ``_id`` index to reconcile against) has what an
    interrupted run wrote of its unfinished ranges deleted first.
    """
    if not exists:
        await create_collection(dst, intent)
        return
    pending = pipeline.pending(intent)
    if pending:
        await pipeline.dest.reopen(intent)
    if pending and intent.kind is Kind.TIMESERIES:
        await clear_ranges(dst, intent, pending)


async def _dry_run(
    options: BackupOptions, ends: Endpoints, state: BackupState, started: float, progress: Progress
) -> BackupResult:
    """Return what a copy would do (counts, sizes, ranges, indexes) without writing anything."""
    async with ends.src.errors("planning the copy"):
        plan = await build_plan(ends.src.db, options, sizes=True, progress=progress)
    notes: list[str] = []
    async with ends.src.errors("reading the busy markers"):
        busy = await busy_marker(ends.src.db)
    if busy is not None:
        notes.append(f"the source is being changed ({busy.describe()}): a copy would be refused now")
    names = set(await collection_infos(ends.dst, everything=True))
    if names:
        notes.append(
            f"the destination {options.dest_db!r} is not empty ({len(names)} collections): "
            "a copy needs --drop (replace) or --resume"
        )
    reports = [
        CollectionReport(
            name=i.name,
            kind=i.kind.value,
            documents=i.count,
            nbytes=i.size_bytes or 0,
            ranges=len(i.ranges),
            indexes=len(i.indexes),
            note=f"view on {i.view_on}" if i.view_on else None,
        )
        for i in plan.intents
    ]
    return BackupResult.of(
        reports,
        mode="dry-run",
        src_db=options.src_db,
        dest_db=options.dest_db,
        source=ends.src_uri,
        destination=ends.dst_uri,
        seconds=time.monotonic() - started,
        notes=tuple(notes),
    )
