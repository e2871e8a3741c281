"""Verbs of the safety group: ``rehearse`` (pending migrations on a scratch copy) and ``restore`` (a backup).

Parsing, wiring and drawing only: the work lives in ``analytiq_data.safety``.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from analytiq_data.backup.options import DEFAULT_PARALLEL
from analytiq_data.cli.migrate_options import (
    connected,
    driver_option,
    load_list,
    lock_options,
    migration_list_option,
    restore_fields,
)
from analytiq_data.cli.options import announce, ask_for_name, count, positive, refuse_unasked, settings_from
from analytiq_data.cli.render import make_progress, print_json, print_table, steps_print_to_stderr
from analytiq_data.cli.restore_files_cmds import add_file_arguments as add_restore_file_arguments
from analytiq_data.cli.restore_files_cmds import file_restore_options, restore_from_files, wants_files
from analytiq_data.cli.restore_log_cmds import add_log_arguments, cmd_restore_log, wants_log
from analytiq_data.errors import ConfigurationError
from analytiq_data.safety import BackupInfo, RehearsalResult, RestoreOptions, RestoreResult, inspect_backup, rehearse
from analytiq_data.safety import restore as restore_backup
from analytiq_data.safety.restore_check import check_restore_target
from analytiq_data.safety.restore_files import open_dump, target_holds_data
from analytiq_data.safety.results import CHECKS
from analytiq_data.uri import resolve_uri

REHEARSE_DESCRIPTION = """\
Copy the database into a scratch database on the same server (<db>_rehearse_<id>), then for each
pending migration: up; up again (the data must not change: idempotency); down (the data, indexes and
options must be exactly as before up); up again. Prints one row per migration and, for a failure, the
first differing document field by field. The real database is only read. Exit codes: 0 all passed,
1 a check failed, 3 bad input, 4 server unreachable.
"""

RESTORE_DESCRIPTION = """\
Replace the database (--db) with a backup (--from, or --archive/--dir: a dump). The backup is loaded
inside the database, beside each collection it replaces (__restore.<name>; collections the database
lacks are loaded under their own names), checked, then swapped in by renaming each collection in
place (a catalog change on mongod), and checked again. Collections the backup does not have are
dropped; views are recreated; the history written after the backup is kept and the restore recorded.
The restore's lock lives in <db>__restore while it runs, never in the database. Stop the application
first: --check (reads only) says who is connected and writing. Asks you to type the database name on
a terminal; pass --yes otherwise (with --archive/--dir only when the database holds data).
Refused, changing nothing (exit 3): an interrupted backup (it still holds __backup_state), even with
--force; without --force, a database this tool did not record as a complete backup, a backup made
with --no-verify, and a source with no documents when the database holds some; through mongos, a
sharded collection it would replace. A backup that no longer holds what it held when it was made is
refused too (exit 7). Another client writing to the database during the restore: exit 5, saying
whether the restore took effect. Stopped before the swap (Ctrl-C, an error), the database is
unchanged and the partial load removed; stopped during the swap, the next restore (or status) says
so and the next restore finishes it.
With --archive FILE or --dir DIR, the backup is a dump in mongodump's formats (written by
mongodump or by analytiq-db backup --archive/--out), restored the same way; what is checked depends on
the format and the summary says it (an archive's CRC-64, the checksums of a directory this tool
wrote, counts); --yes is needed only when the database holds data.
With --from-log DIR and --at WHEN (or --before-migration N), the database is rebuilt as it was at
that moment from the event log analytiq-db follow keeps: its base loaded, the change events up to the
moment replayed, counts checked, then swapped in the same way. A moment the log does not cover (or
across a recorded gap) is refused, naming the ranges it covers (exit 3).
"""


def register(sub: Any, parent: argparse.ArgumentParser) -> None:
    """Add the ``rehearse`` and ``restore`` verbs."""
    p = sub.add_parser(
        "rehearse",
        parents=[parent],
        help="rehearse pending migrations on a scratch copy: up, up again, down, up",
        description=REHEARSE_DESCRIPTION,
    )
    p.add_argument("--to", type=count, metavar="N", help="rehearse up to version N (default: the newest)")
    p.add_argument(
        "--sample",
        type=positive,
        metavar="N",
        help="copy at most N documents per collection, those the migrations would change first",
    )
    p.add_argument("--keep", action="store_true", help="keep the scratch database afterwards (its name is printed)")
    p.add_argument(
        "--from-log", metavar="DIR", help="rebuild the scratch copy from the event log in DIR (its latest moment)"
    )
    migration_list_option(p)
    driver_option(p)
    p.set_defaults(handler=cmd_rehearse)

    p = sub.add_parser(
        "restore",
        parents=[parent],
        help="replace the database with a backup (verified; asks for confirmation)",
        description=RESTORE_DESCRIPTION,
    )
    p.add_argument("--from", dest="from_db", metavar="NAME", help="the backup database (or --archive/--dir: files)")
    p.add_argument(
        "--from-uri", metavar="URI", help="the backup's server, or env:NAME / file:PATH (default: the --uri server)"
    )
    p.add_argument("--yes", action="store_true", help="do not ask for confirmation (required when not on a terminal)")
    p.add_argument(
        "--force",
        action="store_true",
        help="restore from a database not recorded (or not verified) as a backup, or holding no documents; "
        "never from an interrupted backup",
    )
    p.add_argument(
        "--parallel",
        type=positive,
        default=DEFAULT_PARALLEL,
        metavar="N",
        help=f"at most N inserts in flight; fewer while more do not load faster (default: {DEFAULT_PARALLEL})",
    )
    p.add_argument(
        "--check",
        action="store_true",
        help="change nothing: check the backup, and say who is connected to and writing to the database",
    )
    add_restore_file_arguments(p)
    add_log_arguments(p)
    lock_options(p)
    p.set_defaults(handler=cmd_restore)


async def cmd_rehearse(args: argparse.Namespace) -> int:
    """Rehearse the pending migrations on a scratch copy; exit 1 if a check failed."""
    migrations = load_list(args)
    progress = make_progress(args.json)
    try:
        async with connected(args, migrations) as client:
            with steps_print_to_stderr(args.json):  # the steps' print() must not break --json
                result = await rehearse(
                    client,
                    migrations,
                    to=args.to,
                    sample=args.sample,
                    keep=args.keep,
                    progress=progress,
                    from_log=args.from_log,
                )
    finally:
        progress.close()
    render_rehearsal(result, args.json)
    result.raise_for_failure(as_json=args.json)
    return 0


def render_rehearsal(result: RehearsalResult, as_json: bool) -> None:
    """Print the rehearsal: one row per migration, then the first difference of each failure."""
    if as_json:
        print_json(result.to_json())
        return
    if not result.migrations:
        print(f"database {result.database} is at version {result.from_version}: nothing to rehearse")
        return
    sample = f", sample of {result.sample} per collection" if result.sample else ""
    print(
        f"rehearsal of {result.database}: version {result.from_version} → {result.to_version} on a scratch copy "
        f"({result.documents_copied:,} documents{sample})"
    )
    rows = [
        (
            m.version,
            m.name,
            *(m.check(name).cell() for name in CHECKS),
            "" if m.touched is None else f"{m.touched:,}",
            f"{m.seconds:.1f}s",
        )
        for m in result.migrations
    ]
    print_table(None, ["version", "migration", *CHECKS, "touched", "time"], rows)
    for m in result.failures:
        check = m.failed
        assert check is not None
        print(f"{m.label()}: {check.name} failed: {check.reason}")
        for line in m.diff.lines() if m.diff else []:
            print(f"  {line}")
    if result.kept:
        print(f"scratch database kept: {result.scratch}")
    if result.passed:
        count = len(result.migrations)
        print(f"all {count} migration{'s' if count != 1 else ''} passed ({result.seconds:.1f}s)")


def _describe(options: RestoreOptions, info: BackupInfo) -> str:
    """Return what the confirmation says the restore replaces the database with."""
    kind = "backup" if info.recorded else "database (not recorded as a backup: --force)"
    unverified = " NOT verified when it was made (--force);" if info.recorded and info.verified is not True else ""
    return (
        f"restore replaces database {options.db!r} with {kind} {info.name!r} on {info.where} (version "
        f"{info.version}, {info.collections} collections, about {info.documents:,} documents);{unverified} "
        "collections the backup does not have are dropped."
    )


async def cmd_restore(args: argparse.Namespace) -> int:
    """Replace the database with a backup, after confirmation (a typed name, or --yes); --check changes nothing."""
    if args.check:
        return await _cmd_check(args)
    if wants_log(args):
        return await cmd_restore_log(args)  # says where after the log is checked (a bad moment: one line)
    announce(args)
    if wants_files(args):
        render_restore(await restore_from_files(args), args.json)
        return 0
    options = _from_options(args)
    if not args.yes and await target_holds_data(options):  # a new or empty database replaces nothing
        if not sys.stdin.isatty():
            refuse_unasked(options.db, repr(options.backup))
        ask_for_name(options.db, _describe(options, await inspect_backup(options)))
    progress = make_progress(args.json)
    try:
        result = await restore_backup(options, progress)
    finally:
        progress.close()
    render_restore(result, args.json)
    return 0


def _from_options(args: argparse.Namespace) -> RestoreOptions:
    if not args.from_db:
        raise ConfigurationError("no backup to restore", hint="give --from NAME, --archive FILE or --dir DIR")
    if args.dump_db:
        raise ConfigurationError("--from-db names a database inside a dump", hint="use it with --archive or --dir")
    from_uri = resolve_uri(args.from_uri, what="--from-uri") if args.from_uri else None
    return RestoreOptions(**restore_fields(args), backup=args.from_db, backup_uri=from_uri, force=args.force)


async def _cmd_check(args: argparse.Namespace) -> int:
    """Check the backup and the database without changing anything; exit 1 if the database is in use."""
    settings = settings_from(args)
    if wants_files(args):
        options = file_restore_options(args)
        source, dump_db, metas = await asyncio.to_thread(open_dump, options)
        source.close()
        said = f"{options.where}: database {dump_db}, {len(metas)} namespace(s): can be restored"
    else:
        info = await inspect_backup(_from_options(args))
        said = (
            f"backup {info.name} on {info.where}: version {info.version}, {info.collections} collection(s), "
            f"about {info.documents:,} documents: can be restored"
        )
    checked = await check_restore_target(settings.uri, settings.db, timeout_s=settings.timeout_s)
    if args.json:
        print_json({"source": said, **checked.to_json()})
    else:
        print(said)
        for line in checked.lines():
            print(line)
    return 0 if checked.ready else 1


def render_restore(result: RestoreResult, as_json: bool) -> None:
    """Print what was restored."""
    if as_json:
        print_json(result.to_json())
        return
    for note in result.notes:
        print(note)
    dropped = f"; dropped {', '.join(result.dropped)}" if result.dropped else ""
    version = f" at version {result.version}" if result.version is not None else ""
    views = f", {_count(len(result.views), 'view')}" if result.views else ""
    print(
        f"restored database {result.database} from backup {result.backup}{version}: "
        f"{_count(len(result.collections), 'collection')}, {_count(result.documents, 'document')}{views}{dropped}; "
        f"{result.outcome()} ({result.seconds:.1f}s)"
    )


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}{'s' if n != 1 else ''}"
