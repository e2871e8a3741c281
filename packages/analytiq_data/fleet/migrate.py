"""The migration verbs over many databases: each database gets the verb of ``engine.verbs``, as one run.

``migrate_many`` (``run_migrations``/``up``/``down``), ``status_many``, ``history_many``,
``stamp_many`` and ``check_many`` build the work for one database (the verb on its ``Target``, with
its own stop request and a Progress reporting to the fleet) and hand it to ``run.over_many``. Each
database is locked, decided and recorded exactly as ``analytiq-db up --db NAME`` would: a database
whose lock another runner holds waits for it (``lock_wait_s``), then reads where it stands.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Literal

from analytiq_data.fleet.fanout import Turn, Work, give_way
from analytiq_data.fleet.progress import FleetProgress
from analytiq_data.fleet.results import DatabaseResult, FleetResult, Outcome
from analytiq_data.fleet.run import Fleet, Plan, over_many
from analytiq_data.fleet.select import Selection
from analytiq_data.migrations.base import Migration
from analytiq_data.migrations.engine import verbs
from analytiq_data.migrations.engine.options import RunOptions, StopRequest
from analytiq_data.migrations.engine.plan import check_version, target_for_down, validate_migrations
from analytiq_data.migrations.engine.results import RunResult, StampResult, StatusResult
from analytiq_data.migrations.engine.target import Target
from analytiq_data.progress import Progress

RunVerb = Literal["migrate", "up", "down"]


def _ran(name: str, result: RunResult, seconds: float) -> DatabaseResult:
    outcome = Outcome.AHEAD if result.database_ahead else Outcome.OK
    steps = 0 if result.dry_run else len(result.steps)
    return DatabaseResult(name, outcome, result.to_version, result.from_version, steps, seconds=seconds, detail=result)


def _timed(make: Callable[[str, Progress, Turn], Awaitable[DatabaseResult]]) -> Work:
    """Return ``make`` with each record's ``seconds`` measured around it."""

    async def work(name: str, progress: Progress, turn: Turn) -> DatabaseResult:
        t0 = time.monotonic()
        result = await make(name, progress, turn)
        return dataclasses.replace(result, seconds=time.monotonic() - t0)

    return work


async def migrate_many(
    fleet: Fleet,
    selection: Selection,
    migrations: Sequence[Migration],
    verb: RunVerb = "migrate",
    *,
    to: int | None = None,
    steps: int | None = None,
    options: RunOptions | None = None,
    per_database: Callable[[Target], RunOptions] | None = None,
    jobs: int | None = None,
    keep_going: bool = False,
    stop: StopRequest | None = None,
    progress: FleetProgress | None = None,
    announce: Callable[[Plan], None] | None = None,
) -> FleetResult:
    """Run ``verb`` (``migrate``: up or down to ``to``, default the newest; ``up``; ``down`` to ``to`` or by
    ``steps``) on every selected database, ``jobs`` at once; return a record per database.

    ``per_database`` gives a database its own options (a backup-first hook naming it), else ``options``.
    Bad input (an unknown version, a bad list) raises before any database is touched; a database's
    own failure is in its record (``FleetResult.raise_for_failure`` raises for them).
    """
    checked = validate_migrations(migrations)
    if to is not None:
        check_version(to, len(checked))
    if verb == "down":
        target_for_down(len(checked), len(checked), to, steps)

    async def one(name: str, progress: Progress, turn: Turn) -> DatabaseResult:
        target = fleet.target(name)
        mine = (per_database(target) if per_database is not None else options) or RunOptions()

        async def run(opts: RunOptions, shown: Progress) -> RunResult:  # a dry run plans without the lock
            if verb == "up":
                return await verbs.up(target, checked, to, options=opts, progress=shown, stop=turn.stop)
            if verb == "down":
                return await verbs.down(target, checked, to, steps, options=opts, progress=shown, stop=turn.stop)
            return await verbs.migrate(target, checked, to, options=opts, progress=shown, stop=turn.stop)

        return _ran(name, await give_way(turn, progress, mine, run), 0.0)

    return await over_many(
        verb,
        fleet,
        selection,
        _timed(one),
        jobs=jobs,
        keep_going=keep_going,
        stop=stop,
        progress=progress,
        announce=announce,
    )


def needs_a_person(status: StatusResult) -> bool:
    """Return whether ``status`` flags what needs a person (``status`` exits 1 for it): what fails ``check``
    (a reordered list, changed code, a database ahead of the code, a dirty step) and an unfinished restore."""
    return bool(
        status.mismatches or status.changed or status.database_ahead or status.dirty is not None or status.restore
    )


async def status_many(
    fleet: Fleet,
    selection: Selection,
    migrations: Sequence[Migration],
    *,
    jobs: int | None = None,
    progress: FleetProgress | None = None,
    announce: Callable[[Plan], None] | None = None,
) -> FleetResult:
    """Return where every selected database stands (its StatusResult in ``detail``); reads only.

    A database that needs a person (see ``needs_a_person``) is ``ok`` with its problems in its status:
    status reads, it does not fail (the command line exits 1 for it, as ``status`` does).
    """
    checked = validate_migrations(migrations)

    async def one(name: str, progress: Progress, turn: Turn) -> DatabaseResult:
        status = await verbs.status(fleet.target(name), checked)
        outcome = Outcome.AHEAD if status.database_ahead else Outcome.OK
        return DatabaseResult(name, outcome, status.current, status.current, detail=status)

    return await over_many(
        "status", fleet, selection, _timed(one), jobs=jobs, keep_going=True, steps=False,
        progress=progress, read_versions=False, announce=announce,
    )  # fmt: skip


async def history_many(
    fleet: Fleet,
    selection: Selection,
    *,
    limit: int = 0,
    version: int | None = None,
    jobs: int | None = None,
    progress: FleetProgress | None = None,
    announce: Callable[[Plan], None] | None = None,
) -> FleetResult:
    """Return every selected database's history (newest first; ``limit`` per database, 0 = all)."""

    async def one(name: str, progress: Progress, turn: Turn) -> DatabaseResult:
        found = await verbs.history(fleet.target(name), limit=limit, version=version)
        return DatabaseResult(name, Outcome.OK, detail=found)

    return await over_many(
        "history", fleet, selection, _timed(one), jobs=jobs, keep_going=True, steps=False,
        progress=progress, read_versions=False, announce=announce,
    )  # fmt: skip


async def stamp_many(
    fleet: Fleet,
    selection: Selection,
    migrations: Sequence[Migration],
    version: int,
    *,
    options: RunOptions | None = None,
    jobs: int | None = None,
    keep_going: bool = False,
    stop: StopRequest | None = None,
    progress: FleetProgress | None = None,
    announce: Callable[[Plan], None] | None = None,
    **stamp_options: Any,
) -> FleetResult:
    """Record ``version`` on every selected database without running any step (each under its lock)."""
    checked = validate_migrations(migrations)
    check_version(version, len(checked))

    async def one(name: str, progress: Progress, turn: Turn) -> DatabaseResult:
        target = fleet.target(name)
        mine = options or RunOptions()

        async def run(opts: RunOptions, shown: Progress) -> StampResult:
            return await verbs.stamp(target, checked, version, options=opts, progress=shown, **stamp_options)

        done = await give_way(turn, progress, mine, run)
        return DatabaseResult(name, Outcome.OK, done.to_version, done.from_version, detail=done)

    return await over_many(
        "stamp", fleet, selection, _timed(one), jobs=jobs, keep_going=keep_going, stop=stop,
        progress=progress, announce=announce,
    )  # fmt: skip


async def check_many(
    fleet: Fleet,
    selection: Selection,
    migrations: Sequence[Migration],
    *,
    fail_on_pending: bool = False,
    jobs: int | None = None,
    progress: FleetProgress | None = None,
    announce: Callable[[Plan], None] | None = None,
) -> FleetResult:
    """Run the CI gate (``analytiq_data.guard.check``) on every selected database; reads only.

    A database whose check fails is ``failed`` (exit 1) with its first finding as the cause.
    """
    from analytiq_data.guard import check  # the guard imports the migrations package, not the reverse

    checked = validate_migrations(migrations)

    async def one(name: str, progress: Progress, turn: Turn) -> DatabaseResult:
        found = await check(fleet.target(name), migrations=checked, fail_on_pending=fail_on_pending)
        if found.ok:
            return DatabaseResult(name, Outcome.OK, found.version, detail=found)
        first = found.failures[0].line if found.failures else found.summary()
        return DatabaseResult(name, Outcome.FAILED, found.version, error=first, exit_code=1, detail=found)

    return await over_many(
        "check", fleet, selection, _timed(one), jobs=jobs, keep_going=True, steps=False,
        progress=progress, read_versions=False, announce=announce,
    )  # fmt: skip
