"""``analytiq-db restore --archive FILE | --dir DIR``: restore a dump (ours or mongodump's) into ``--db``.

Parsing, wiring and drawing only: the work lives in ``analytiq_data.safety.restore_files``.
"""

from __future__ import annotations

import argparse
import sys

from analytiq_data.cli.migrate_options import restore_fields
from analytiq_data.cli.options import confirm_replace
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
    return FileRestoreOptions(**restore_fields(args), archive=args.archive, directory=args.dir, from_db=args.dump_db)


async def restore_from_files(args: argparse.Namespace) -> RestoreResult:
    """Restore from files and return what was done (``safety_cmds`` draws it); a database that holds data
    is replaced only after confirmation (--yes)."""
    options = file_restore_options(args)
    if not args.yes and await target_holds_data(options):
        confirm_replace(
            options.db,
            options.where,
            can_ask=sys.stdin.isatty() and options.archive != "-",  # stdin is the dump: nothing to ask on
            dropped="; collections the dump does not have are dropped",
        )
    progress = make_progress(args.json)
    try:
        return await restore_files(options, progress)
    finally:
        progress.close()
