"""The verbs, one module for every caller: status, up, down, migrate, history, stamp, unlock, resolve.

The command line and the Python API (``analytiq_data.migrations``: ``run_migrations``, ``up``, …)
both call these. Each takes one target (a ``target.Target``, or an application's client object
such as ``AnalytiqClient``, read once by ``Target.of``) and, where it needs one, the migration list
(validated once: a ``plan.MigrationList`` is taken as it is). Each opens its clients and sends
``hello`` once (``target.connect``), and returns a typed result. Nothing here knows of Analytiq.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from typing import Any, Literal

from analytiq_data.errors import ConfigurationError, LockError
from analytiq_data.migrations.base import Migration
from analytiq_data.migrations.engine import checks
from analytiq_data.migrations.engine.checksum import migration_checksum
from analytiq_data.migrations.engine.housekeeping import release_tidily
from analytiq_data.migrations.engine.lock import (
    MigrationLock,
    delete_lock,
    format_time,
    held_error,
    read_lock,
    refuse_nested,
)
from analytiq_data.migrations.engine.lockinfo import gone_line, running_line
from analytiq_data.migrations.engine.options import RunOptions, StopRequest, TargetChooser
from analytiq_data.migrations.engine.plan import check_version, target_for_down, target_for_up, validate_migrations
from analytiq_data.migrations.engine.results import (
    HistoryResult,
    Mismatch,
    ResolveResult,
    RunResult,
    StampResult,
    StatusResult,
    StepStatus,
    UnlockResult,
)
from analytiq_data.migrations.engine.runner import Runner
from analytiq_data.migrations.engine.state import HistoryRecord, StateStore
from analytiq_data.migrations.engine.target import ClientLike, Target, connect, with_declared_driver
from analytiq_data.progress import NULL_PROGRESS, Progress

AnyTarget = Target | ClientLike


async def _run(
    target: AnyTarget,
    migrations: Sequence[Migration],
    options: RunOptions | None,
    progress: Progress | None,
    stop: StopRequest | None,
    choose: TargetChooser,
    *,
    ahead_is_ok: bool = False,
) -> RunResult:
    checked = validate_migrations(migrations)
    where = with_declared_driver(Target.of(target), checked)
    if not (options is not None and options.dry_run):
        await refuse_nested(where.client, where.database)
    async with connect(where, for_steps=True) as conn:
        runner = Runner(conn, checked, options=options, progress=progress, stop=stop)
        return await runner.run(choose, ahead_is_ok=ahead_is_ok)


async def migrate(
    target: AnyTarget,
    migrations: Sequence[Migration],
    target_version: int | None = None,
    *,
    options: RunOptions | None = None,
    progress: Progress | None = None,
    stop: StopRequest | None = None,
) -> RunResult:
    """Bring the database to ``target_version`` (default: the newest), up or down.

    A database newer than the list is left alone with a warning (never an implicit downgrade).
    """
    if target_version is None:
        return await _run(target, migrations, options, progress, stop, lambda current, head: head, ahead_is_ok=True)
    check_version(target_version, len(migrations))
    return await _run(
        target, migrations, options, progress, stop, lambda current, head: check_version(target_version, head)
    )


async def up(
    target: AnyTarget,
    migrations: Sequence[Migration],
    to: int | None = None,
    *,
    options: RunOptions | None = None,
    progress: Progress | None = None,
    stop: StopRequest | None = None,
) -> RunResult:
    """Apply pending migrations up to ``to`` (default: the newest); never go down.

    ``to`` below the version found once the lock is held is refused (ConfigurationError).
    """
    if to is not None:
        check_version(to, len(migrations))
    return await _run(
        target,
        migrations,
        options,
        progress,
        stop,
        lambda current, head: target_for_up(current, head, to),
        ahead_is_ok=to is None,
    )


async def down(
    target: AnyTarget,
    migrations: Sequence[Migration],
    to: int | None = None,
    steps: int | None = None,
    *,
    options: RunOptions | None = None,
    progress: Progress | None = None,
    stop: StopRequest | None = None,
) -> RunResult:
    """Revert migrations down to version ``to``, or ``steps`` steps (default: one step).

    ``steps`` counts from the version found once the lock is held (after any run in progress).
    """
    target_for_down(len(migrations), len(migrations), to, steps)  # the checks that need no database
    return await _run(
        target, migrations, options, progress, stop, lambda current, head: target_for_down(current, head, to, steps)
    )


async def status(target: AnyTarget, migrations: Sequence[Migration]) -> StatusResult:
    """Return where the database stands: applied and pending steps, and anything needing attention."""
    checked = validate_migrations(migrations)
    where = Target.of(target)
    async with connect(where) as conn:
        transactions = conn.transactions
        db = conn.db
        state = StateStore(db)
        version = await state.read_version()
        current, head = version.version, len(checked)
        in_effect = await state.in_effect(min(current, head))
        lock = await read_lock(db)
        dirty = await checks.live_dirty(state, current, under_lock=False)
        if dirty is None and (lock is None or not lock.live):
            record = await state.dirty_record()
            if record is not None and record.outcome == "started" and current != checks.dirty_target(record):
                dirty = record  # left "started" by a runner that is gone
        found = await checks.mismatches(state, checked, current)
    steps: list[StepStatus] = []
    for version_no, m in enumerate(checked, start=1):
        rec = in_effect.get(version_no) if version_no <= current else None
        checksum = migration_checksum(m)
        steps.append(
            StepStatus(
                version=version_no,
                name=m.name,
                description=m.description,
                applied=version_no <= current,
                applied_at=rec.ended_at if rec else None,
                recorded_name=rec.name if rec else None,
                code_changed=rec is not None and checks.code_changed(m.name, checksum, rec.name, rec.checksum),
                use_transaction=m.use_transaction,
                idempotent=m.idempotent,
                reversible=m.reversible,
            )
        )
    changed = tuple(s.version for s in steps if s.code_changed)
    problems = _problems(current, head, found, changed, steps, dirty, lock)
    return StatusResult(
        database=where.database,
        current=current,
        head=head,
        updated_at=version.updated_at,
        transactions=transactions,
        steps=tuple(steps),
        database_ahead=current > head,
        mismatches=tuple(found),
        changed=changed,
        dirty=dirty,
        lock=lock,
        problems=tuple(problems),
    )


def _problems(
    current: int,
    head: int,
    found: Sequence[Mismatch],
    changed: Sequence[int],
    steps: Sequence[StepStatus],
    dirty: Any,
    lock: Any,
) -> list[str]:
    problems: list[str] = []
    if current > head:
        problems.append(f"the database is at version {current}, newer than this code's newest migration ({head})")
    if found:
        problems.append(checks.mismatch_error(found).user_line())
    for version_no in changed:
        step = steps[version_no - 1]
        problems.append(f"version {version_no} ({step.name}) changed since it was applied")
    if dirty is not None:
        problems.append(checks.dirty_error(dirty).user_line())
    if lock is not None and lock.live:
        problems.append(running_line(lock))
    elif lock is not None and lock.holder_gone:
        problems.append(gone_line(lock))
    return problems


async def history(target: AnyTarget, *, limit: int = 0, version: int | None = None) -> HistoryResult:
    """Return the migration history, newest first (``limit`` 0 = all; ``version`` filters)."""
    async with connect(Target.of(target)) as conn:
        records = await StateStore(conn.db).records(limit=limit, version=version)
    return HistoryResult(database=conn.target.database, records=tuple(records))


async def applied_records(target: AnyTarget, upto: int) -> dict[int, HistoryRecord]:
    """Return, for each version up to ``upto``, the newest history record that applied it (if any)."""
    async with connect(Target.of(target)) as conn:
        return await StateStore(conn.db).in_effect(upto)


async def unlock(target: AnyTarget, *, force: bool = False) -> UnlockResult:
    """Clear the migration lock after saying who held it; refuse a live lock unless ``force``.

    A lease whose holder is known to be gone from this host (``LockInfo.holder_gone``) is not live:
    it is cleared without ``force``.
    """
    where = Target.of(target)
    async with connect(where) as conn:
        db = conn.db
        info = await read_lock(db)
        if info is None:
            return UnlockResult(database=where.database, lock=None, cleared=False)
        if info.live and not force:
            ends = f"; its lease ends at {format_time(info.expires_at)}" if info.expires_at else ""
            raise LockError(
                f"the migration lock is live: held by {info.describe()}{ends}",
                hint="wait for the runner to finish; if it is dead, wait for the lease to end or use --force",
            )
        cleared = await delete_lock(db, info)
    return UnlockResult(database=where.database, lock=info, cleared=cleared)


@contextlib.asynccontextmanager
async def _locked(target: Target, options: RunOptions | None, progress: Progress | None) -> AsyncIterator[StateStore]:
    """Hold the migration lock (waiting for another runner, LockError after the wait) around a block
    that reads the state and decides from it."""
    opts = options or RunOptions()
    await refuse_nested(target.client, target.database)
    async with connect(target) as conn:
        lock = MigrationLock(conn.db, lease_s=opts.lease_s)
        got = await lock.acquire(opts.lock_wait_s, progress=progress or NULL_PROGRESS)
        if got.outcome != "held":
            raise held_error(got.holder, opts.lock_wait_s)
        try:
            yield StateStore(conn.db)
        finally:
            await release_tidily(lock)


async def stamp(
    target: AnyTarget,
    migrations: Sequence[Migration],
    version: int,
    *,
    options: RunOptions | None = None,
    progress: Progress | None = None,
    rerun_ok: bool = False,
) -> StampResult:
    """Record ``version`` as the database's version without running any step.

    Versions 1…N are recorded as applied by the list's current classes (which also accepts a
    renamed class or changed code as applied), versions above N as not applied. Moving the version
    down over applied steps (the next ``up`` runs them again) is refused with ConfigurationError
    naming them, unless ``rerun_ok`` (the command line's ``--yes``).
    """
    checked = validate_migrations(migrations)
    check_version(version, len(checked))
    where = Target.of(target)
    async with _locked(where, options, progress) as state:
        current = (await state.read_version()).version
        await checks.refuse_if_dirty(state, current, under_lock=True)
        if not rerun_ok:
            _refuse_unapplying(checked, current, version)
        docs = [_stamp_doc(v, checked[v - 1], "up") for v in range(1, version + 1)]
        docs += [_stamp_doc(v, checked[v - 1], "down") for v in range(version + 1, min(current, len(checked)) + 1)]
        await state.add_records(docs)
        await state.write_version(current, version)
    return StampResult(database=where.database, from_version=current, to_version=version)


def _refuse_unapplying(migrations: Sequence[Migration], current: int, version: int) -> None:
    """Raise ConfigurationError if recording ``version`` marks applied steps (above it, up to
    ``current``) not applied: the next ``up`` would run them again. Names them, and the ones not
    declared idempotent."""
    again = range(version + 1, min(current, len(migrations)) + 1)
    if not again:
        return
    named = [
        f"{v} ({migrations[v - 1].name}{'' if migrations[v - 1].idempotent else ', not idempotent'})" for v in again
    ]
    listed = named[0] if len(named) == 1 else ", ".join(named[:-1]) + f" and {named[-1]}"
    which = "version" if len(named) == 1 else "versions"
    raise ConfigurationError(
        f"stamp {version} would record {which} {listed} as not applied (the database is at version {current}): "
        f"the next up runs {'it' if len(named) == 1 else 'them'} again; nothing changed",
        hint=f"to revert them use down --to {version}; if their changes are really not in the data, "
        "run stamp again with --yes",
    )


def _stamp_doc(version: int, m: Migration, direction: str, outcome: str = "stamped") -> dict[str, Any]:
    return {
        "version": version,
        "name": m.name,
        "description": m.description,
        "direction": direction,
        "outcome": outcome,
        "checksum": migration_checksum(m),
        "transactional": False,
        "dirty": False,
    }


async def resolve(
    target: AnyTarget,
    migrations: Sequence[Migration],
    mark: Literal["applied", "reverted"],
    version: int | None = None,
    *,
    options: RunOptions | None = None,
    progress: Progress | None = None,
) -> ResolveResult:
    """Record what is true after a dirty step: its change is in the data (``applied``) or not (``reverted``)."""
    if mark not in ("applied", "reverted"):
        raise ConfigurationError(f"unknown mark {mark!r}", hint="use --mark applied or --mark reverted")
    checked = validate_migrations(migrations)
    where = Target.of(target)
    async with _locked(where, options, progress) as state:
        current = (await state.read_version()).version
        record = await checks.live_dirty(state, current, under_lock=True)
        if record is None:
            raise ConfigurationError("nothing to resolve: the database is not dirty", hint="see analytiq-db status")
        if version is not None and version != record.version:
            raise ConfigurationError(
                f"the dirty step is version {record.version} ({record.name}), not version {version}",
                hint=f"use --version {record.version}",
            )
        done = mark == "applied"
        if record.direction == "up":
            new = record.version if done else record.version - 1
        else:
            new = record.version - 1 if done else record.version
        direction = record.direction if done else ("down" if record.direction == "up" else "up")
        if 1 <= record.version <= len(checked):
            await state.add_records([_stamp_doc(record.version, checked[record.version - 1], direction, "resolved")])
        await state.clear_dirty(record.id, record.outcome, resolution=mark)
        await state.write_version(current, new)
    return ResolveResult(
        database=where.database,
        version=record.version,
        name=record.name,
        mark=mark,
        from_version=current,
        to_version=new,
    )
