"""``analytiq-db restore --archive FILE | --dir DIR``: restore a dump (ours or mongodump's) into ``--db``.

Parsing, wiring and drawing only: the work lives in ``analytiq_data.safety.restore_files``.
"""

from __future__ import annotations

import argparse
import sys

from analytiq_data.cli.migrate_options import run_options
from analytiq_data.cli.options import settings_from
from analytiq_data.cli.render import make_progress
from analytiq_data.errors import ConfigurationError
from analytiq_data.safety.restore_files import FileRestoreOptions, restore_files, target_holds_data
from analytiq_data.safety.results import RestoreResult


def add_file_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--archive``, ``--dir``, ``--gzip`` and ``--from-db`` (restoring from files instead of ``--from``)."""
    files = parser.add_argument_group("from files (mongodump's formats, instead of --from)")
    files.add_argument("--archive", metavar="FILE", help="an archive file (- for stdin), gzip or not")
    files.add_argument("--dir", metavar="DIR", help="a dump directory (DIR/<db>/*.bson, or the database's directory)")
    files.add_argument("--gzip", action="store_true", help="accepted for mongorestore's habits: gzip is recognised")
    files.add_argument(
        "--from-db", dest="dump_db", metavar="NAME", help="the dump's database to restore (when it holds several)"
    )


def wants_files(args: argparse.Namespace) -> bool:
    """Return whether the command line asks for a restore from files."""
    return bool(getattr(args, "archive", None) or getattr(args, "dir", None))


def file_restore_options(args: argparse.Namespace) -> FileRestoreOptions:
    """Return validated FileRestoreOptions from the parsed flags (no connection made)."""
    if args.archive and args.dir:
        raise ConfigurationError("--archive and --dir are two kinds of dump", hint="give one of them")
    if args.from_db or args.from_uri:
        raise ConfigurationError("--from/--from-uri restore a backup database", hint="not with --archive or --dir")
    settings = settings_from(args)
    run = run_options(args)
    return FileRestoreOptions(
        uri=settings.uri,
        db=settings.db,
        archive=args.archive,
        directory=args.dir,
        from_db=args.dump_db,
        timeout_s=settings.timeout_s,
        lock_wait_s=run.lock_wait_s,
        lease_s=run.lease_s,
        parallel=args.parallel,
    )


async def restore_from_files(args: argparse.Namespace) -> RestoreResult:
    """Restore from files and return what was done (``safety_cmds`` draws it); a database that holds data
    is replaced only after confirmation (--yes)."""
    options = file_restore_options(args)
    if not args.yes and await target_holds_data(options):
        if not sys.stdin.isatty() or options.archive == "-":
            raise ConfigurationError(
                f"restore replaces database {options.db!r}, which holds data, with {options.where}: nothing changed",
                hint="pass --yes to confirm",
            )
        print(
            f"restore replaces database {options.db!r} with {options.where}; collections the dump does not have "
            f"are dropped.\nType the database name ({options.db}) to confirm: ",
            end="",
            file=sys.stderr,
            flush=True,
        )
        answer = sys.stdin.readline().strip()
        if answer != options.db:
            raise ConfigurationError(
                f"confirmation {answer!r} is not the database name {options.db!r}: nothing changed",
                hint="type the name exactly, or pass --yes",
            )
    progress = make_progress(args.json)
    try:
        return await restore_files(options, progress)
    finally:
        progress.close()
