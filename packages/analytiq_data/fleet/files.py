"""Backups and restores of many databases, in mongodump's layouts.

- ``backup_many`` with ``out``: each database is dumped to ``out/<db>/`` by the one-database dump
  (``jobs`` at once, each written under a temporary name and read back before it appears), so a
  failure leaves the others complete; with ``archive``: one archive holding every database
  (``dump_many.dump_archive_many``), which appears only when all read back equal.
- ``restore_many``: each selected database of a dump (a directory or an archive, ours or
  mongodump's) is restored into the database of the same name by the one-database restore
  (``safety.restore_files``: under that database's migration lock, loaded beside it, checked,
  swapped in). Globs match the dump's databases.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from analytiq_data.backup.files.dump import dump
from analytiq_data.backup.files.dump_many import Cursor, dump_archive_many
from analytiq_data.backup.files.dumpdir import database_names
from analytiq_data.backup.files.options import DumpOptions
from analytiq_data.backup.files.source import databases, open_source
from analytiq_data.errors import AnalytiqError, ConfigurationError
from analytiq_data.fleet.fanout import Turn, give_way
from analytiq_data.fleet.progress import DatabaseProgress, FleetProgress, NullFleetProgress
from analytiq_data.fleet.results import DatabaseResult, FleetResult, Outcome, failure
from analytiq_data.fleet.run import Fleet, Plan, over_many, plan_run
from analytiq_data.fleet.select import Resolved, Selection, resolve_among
from analytiq_data.migrations.engine.options import StopRequest
from analytiq_data.migrations.engine.target import Connection
from analytiq_data.progress import Progress, TaskKind
from analytiq_data.safety.restore_files import FileRestoreOptions, restore_files

ONE_ARCHIVE = "1: one archive is written one database after another (--jobs applies to --out)"


def _dumped(name: str, result: object, seconds: float) -> DatabaseResult:
    return DatabaseResult(name, Outcome.OK, seconds=seconds, detail=result)


async def backup_many(
    fleet: Fleet,
    selection: Selection,
    options_for: Callable[[str], DumpOptions],
    *,
    archive: bool = False,
    jobs: int | None = None,
    keep_going: bool = False,
    stop: StopRequest | None = None,
    progress: FleetProgress | None = None,
    announce: Callable[[Plan], None] | None = None,
    stdout: BinaryIO | None = None,
) -> FleetResult:
    """Dump every selected database as ``options_for(name)`` says: to one directory each (``out``; ``jobs``
    at once), or with ``archive`` all into its one file. Returns a record per database (a BackupResult each)."""
    if archive:
        return await _archive(fleet, selection, options_for, jobs, progress, announce, stdout)

    async def one(name: str, progress: Progress, turn: Turn) -> DatabaseResult:
        t0 = time.monotonic()
        return _dumped(name, await dump(options_for(name), progress), time.monotonic() - t0)

    return await over_many(
        "backup", fleet, selection, one, jobs=jobs, keep_going=keep_going, steps=False, stop=stop,
        progress=progress, read_versions=False, announce=announce,
    )  # fmt: skip


async def _archive(
    fleet: Fleet,
    selection: Selection,
    options_for: Callable[[str], DumpOptions],
    jobs: int | None,
    progress: FleetProgress | None,
    announce: Callable[[Plan], None] | None,
    stdout: BinaryIO | None,
) -> FleetResult:
    """Dump every selected database into one archive, database after database; all or none."""
    from analytiq_data.fleet.run import fleet_connection

    shown = progress or NullFleetProgress()
    started = time.monotonic()
    async with fleet_connection(fleet) as conn:
        plan = await plan_run(fleet, selection, 1, conn)
    plan = dataclasses.replace(plan, jobs_why=ONE_ARCHIVE)
    if announce is not None:
        announce(plan)
    names = plan.resolved.names
    shown.begin("backup", names, 1)
    cursor = Cursor()
    reading = _ArchiveProgress(shown, cursor)
    try:
        results = await dump_archive_many(
            [options_for(n) for n in names], reading, stdout=stdout, cursor=cursor, started_db=shown.started
        )
        records = tuple(_dumped(n, r, r.seconds) for n, r in zip(names, results, strict=True))
    except (AnalytiqError, asyncio.CancelledError) as exc:
        records = _archive_failed(names, cursor, exc, time.monotonic() - started)
    for record in records:
        shown.finished(record)
    return FleetResult("backup", records, 1, ONE_ARCHIVE, time.monotonic() - started, plan.resolved.describe())


def _archive_failed(
    names: tuple[str, ...], cursor: Cursor, exc: BaseException, seconds: float
) -> tuple[DatabaseResult, ...]:
    """Return the records of an archive that was not written: the database that failed (if known), and the others."""
    from analytiq_data.errors import Interrupted

    culprit = cursor.database
    error = exc if isinstance(exc, AnalytiqError) else Interrupted("interrupted; no archive was left behind")
    why = f"the archive was not written: {culprit or 'the file'} failed (one archive holds all the databases or none)"
    records = []
    for name in names:
        if name == culprit or (culprit is None and name == names[0]):
            records.append(failure(name, error, seconds))
        else:
            records.append(DatabaseResult(name, Outcome.SKIPPED, error=why))
    return tuple(records)


class _ArchiveProgress(DatabaseProgress):
    """The one archive's Progress: its tasks are the activity of the database being read."""

    def __init__(self, fleet: FleetProgress, cursor: Cursor) -> None:
        super().__init__(fleet, "")
        self.cursor = cursor

    def start(
        self,
        task: str,
        total: int | None = None,
        unit: str = "docs",
        *,
        kind: TaskKind = TaskKind.WORK,
        label: str | None = None,
        step: tuple[int, int] | None = None,
    ) -> None:
        self.database = self.cursor.database or ""
        super().start(task, total, unit, kind=kind, label=label, step=step)


def dump_databases(archive: str | None, directory: str | None) -> list[str]:
    """Return the databases a dump holds: an archive's prelude, or a directory's database directories."""
    if directory is not None:
        return database_names(Path(directory))
    source = open_source(archive=archive)
    try:
        return databases(source.namespaces)
    finally:
        source.close()


async def restore_many(
    fleet: Fleet,
    selection: Selection,
    options: FileRestoreOptions,
    *,
    jobs: int | None = None,
    keep_going: bool = False,
    stop: StopRequest | None = None,
    progress: FleetProgress | None = None,
    announce: Callable[[Plan], None] | None = None,
) -> FleetResult:
    """Restore every selected database of the dump ``options`` names into the database of the same name
    (``options.db`` and ``from_db`` are set per database), ``jobs`` at once; a record per database."""
    if options.archive == "-":
        raise ConfigurationError(
            "several databases are restored from a file, not standard input", hint="give --archive FILE"
        )
    held = await asyncio.to_thread(dump_databases, options.archive, options.directory)

    async def among(conn: Connection) -> Resolved:
        return await resolve_among(selection, held, fleet.client, where=options.where)

    async def one(name: str, progress: Progress, turn: Turn) -> DatabaseResult:
        t0 = time.monotonic()
        mine = dataclasses.replace(options, db=name, from_db=name)

        done = await give_way(turn, progress, mine, restore_files)
        return DatabaseResult(name, Outcome.OK, done.version, seconds=time.monotonic() - t0, detail=done)

    return await over_many(
        "restore", fleet, selection, one, jobs=jobs, keep_going=keep_going, steps=False, stop=stop,
        progress=progress, read_versions=False, announce=announce, resolver=among,
    )  # fmt: skip
