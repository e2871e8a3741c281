"""``dump_archive_many``: several databases into one archive, as ``mongodump --archive`` without ``--db``.

The archive's prelude lists every namespace before any document, so the databases' catalogs are
read first (each refused if a migration or another tool is changing it, as for one dump); then each
database's collections are read (``parallel`` at once) into the one stream, database after
database, through the single dump's reader and writer (``dump._write``); then the file is read back
once and every database's namespaces compared with what was read. The archive appears under its
name only when every database read back equal: one archive holds all the databases or none.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from analytiq_data.backup.busy import Busy, busy_error, watched
from analytiq_data.backup.digest import Digest
from analytiq_data.backup.endpoints import Side
from analytiq_data.backup.files.destination import FileDestination
from analytiq_data.backup.files.dump import (
    _discard,
    _open_sink,
    _prepare,
    _publish,
    _refuse_busy,
    _report,
    _write,
    compare_written,
    read_written,
)
from analytiq_data.backup.files.metadata import Metadata
from analytiq_data.backup.files.options import DumpOptions
from analytiq_data.backup.files.server import dump_catalog, open_sides
from analytiq_data.backup.files.stream import writing
from analytiq_data.backup.plan import Plan
from analytiq_data.backup.results import BackupResult, CollectionReport, CopyMismatch
from analytiq_data.errors import ConfigurationError
from analytiq_data.progress import NULL_PROGRESS, Progress


@dataclass
class Cursor:
    """Which database a dump of several is working on (None: none, or the file as a whole), so a
    failure is said of the right database; ``done`` lists those read whole."""

    database: str | None = None
    done: list[str] = field(default_factory=list)


@dataclass
class _Part:
    options: DumpOptions
    where: str
    plan: Plan
    metas: dict[str, Metadata]
    digests: dict[str, Digest] = field(default_factory=dict)


def _check(options: Sequence[DumpOptions]) -> DumpOptions:
    if not options:
        raise ConfigurationError("no database to dump", hint="give --src or --all-databases")
    first = options[0]
    if first.archive is None:
        raise ConfigurationError("a dump of several databases into one file needs --archive", hint="or use --out DIR")
    if first.consistent:
        raise ConfigurationError(
            "--consistent dumps one database at one cluster time", hint="dump several databases without --consistent"
        )
    same = {(o.archive, o.src_uri, o.gzip, o.drop) for o in options}
    if len(same) > 1 or len({o.src_db for o in options}) != len(options):
        raise ConfigurationError("the databases of one archive share its file and server, once each")
    return first


async def dump_archive_many(
    options: Sequence[DumpOptions],
    progress: Progress = NULL_PROGRESS,
    *,
    stdout: BinaryIO | None = None,
    cursor: Cursor | None = None,
    started_db: Callable[[str], None] | None = None,
) -> list[BackupResult]:
    """Write every database of ``options`` (one per database, sharing ``archive``) into one archive, read it
    back and check it; return one BackupResult per database, in order.

    ``cursor`` (if given) says which database was being worked on when an error was raised;
    ``started_db`` is called as each database's documents start. Raises what ``dump`` raises;
    CopyMismatch (of the first database that differs) when the file does not read back equal.
    """
    first = _check(options)
    cursor = cursor or Cursor()
    started = time.monotonic()
    target = _prepare(first)
    try:
        async with open_sides(first.src_uri, first.timeout_s) as (side_of, server_version):
            parts = await _catalogs(options, side_of, cursor)
            sink = _open_sink(first, target, stdout)
            try:
                names = [p.metas[i.name] for p in parts for i in p.plan.intents]
                with writing(first.destination):
                    await asyncio.to_thread(sink.begin, names, server_version)
                for part in parts:
                    cursor.database = part.options.src_db
                    if started_db is not None:
                        started_db(part.options.src_db)
                    side = side_of(part.options.src_db)
                    part.digests = await _write_one(side, part, FileDestination(sink, part.metas), progress)
                    await _refuse_busy(side, during=True)
                    cursor.done.append(part.options.src_db)
            finally:
                cursor.database = None
                with writing(first.destination):
                    await asyncio.to_thread(sink.close)
        results = await _checked(first, parts, target.work, progress, started)
        if all(r.verified is not False for r in results):
            with writing(first.destination):
                _publish(target)
        else:
            _discard(target)
            bad = next(r for r in results if r.verified is False)
            cursor.database = bad.src_db
            raise CopyMismatch(bad)
    except BaseException:
        _discard(target)
        raise
    return results


async def _catalogs(options: Sequence[DumpOptions], side_of: Callable[[str], Side], cursor: Cursor) -> list[_Part]:
    """Read every database's catalog (each refused while a migration or another tool changes it)."""
    parts: list[_Part] = []
    for opts in options:
        cursor.database = opts.src_db
        side = side_of(opts.src_db)
        await _refuse_busy(side, during=False)
        plan, metas = await dump_catalog(side, opts.plan_options())
        parts.append(_Part(opts, side.where, plan, metas))
    cursor.database = None
    return parts


async def _write_one(side: Side, part: _Part, dest: FileDestination, progress: Progress) -> dict[str, Digest]:
    """Read one database's collections into the archive (stopped if a migration starts meanwhile)."""

    async def stopped(busy: Busy) -> BaseException:
        return busy_error(busy, side.db.name, side.where, during=True)

    return await watched(_write(side, part.options, part.plan, dest, progress), side.db, stopped)


async def _checked(
    first: DumpOptions, parts: list[_Part], work: Path | None, progress: Progress, started: float
) -> list[BackupResult]:
    """Return each database's result, its namespaces compared with the file read back (when written to a file)."""
    reports: dict[str, list[CollectionReport]] = {
        p.options.src_db: [_report(i, p.metas[i.name], p.digests.get(i.name)) for i in p.plan.intents] for p in parts
    }
    notes: tuple[str, ...] = ()
    if first.verify and work is not None:
        progress.note(f"Reading {first.destination} back to verify it")
        found, digests = await asyncio.to_thread(read_written, first, work)
        for part in parts:
            db = part.options.src_db
            reports[db] = compare_written(db, found, digests, part.metas, reports[db])
    elif first.verify:
        notes = ("written to standard output: not read back (read the file with restore to check it)",)
    seconds = time.monotonic() - started
    return [
        BackupResult.of(
            reports[p.options.src_db],
            mode="archive",
            src_db=p.options.src_db,
            dest_db=p.options.src_db,
            source=p.where,
            destination=first.destination,
            seconds=seconds,
            notes=notes,
        )
        for p in parts
    ]
