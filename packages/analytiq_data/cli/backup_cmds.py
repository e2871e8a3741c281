"""``analytiq-db backup``: copy, compare or plan a database copy (the same as ``backup_db.py``)."""

from __future__ import annotations

import argparse
import asyncio
import os
from typing import Any

from analytiq_data.backup import BackupOptions, BackupResult, CopyMismatch, backup, verify
from analytiq_data.backup.options import DEFAULT_BATCH_SIZE, DEFAULT_PARALLEL, DEFAULT_RANGE_DOCS, split_patterns
from analytiq_data.cli.backup_render import concurrency_note, make_backup_progress, print_summary
from analytiq_data.cli.dump_cmds import add_file_arguments, cmd_dump, wants_files
from analytiq_data.cli.options import output_options, positive, settings_from, timeout_option
from analytiq_data.cli.render import print_json
from analytiq_data.errors import ConfigurationError, Interrupted
from analytiq_data.uri import redact_uri, resolve_uri

SRC_URI_ENV = "BACKUP_SRC_URI"
DEST_URI_ENV = "BACKUP_DEST_URI"

EPILOG = """\
examples:
  {prog} --src-uri mongodb://localhost:27017 --src prod --dest prod_backup
  {prog} --src-uri env:PROD_URI --dest-uri file:~/.backup-uri --src prod --dest prod_2024_06_01
  {prog} ... --resume            finish an interrupted copy
  {prog} ... --verify-only       compare two existing databases
  {prog} --src-uri URI --src prod --archive prod.archive.gz --gzip   mongodump's archive format
  {prog} --src-uri URI --src prod --out dump/                        mongodump's directory layout
"""


def epilog(prog: str) -> str:
    """Return the examples of the help text, spelled with ``prog`` (``analytiq-db backup``, ``backup-db``, ...)."""
    return EPILOG.format(prog=prog)


def add_backup_arguments(parser: argparse.ArgumentParser, *, several: bool = False) -> None:
    """Add the guide's arguments (``--src-uri --dest-uri --src --dest``) and the backup options; with
    ``several``, ``--src`` may be repeated or a glob (``analytiq-db backup``; see ``fleet_options``)."""
    where = parser.add_argument_group("what to copy")
    where.add_argument(
        "--src-uri",
        metavar="URI",
        help=f"source MongoDB URI, or env:NAME / file:PATH (default: ${SRC_URI_ENV})",
    )
    where.add_argument(
        "--dest-uri",
        metavar="URI",
        help=f"destination MongoDB URI, or env:NAME / file:PATH (default: ${DEST_URI_ENV}, else the source URI)",
    )
    if several:
        where.add_argument(
            "--src",
            action="append",
            metavar="DB",
            help="source database name; repeat it or give a glob ('tenant_*') to dump several to --out/--archive",
        )
    else:
        where.add_argument("--src", required=True, metavar="DB", help="source database name")
    where.add_argument("--dest", metavar="DB", help="destination database name (or --archive/--out: files)")
    where.add_argument(
        "--include",
        action="append",
        metavar="NAMES",
        help="copy only these collections (repeatable, comma list, globs)",
    )
    where.add_argument(
        "--exclude", action="append", metavar="NAMES", help="skip these collections (repeatable, comma list, globs)"
    )
    add_file_arguments(parser)
    _how_arguments(parser)
    output_options(parser)


def _how_arguments(parser: argparse.ArgumentParser) -> None:
    how = parser.add_argument_group("how")
    how.add_argument(
        "--drop",
        "--force",
        action="store_true",
        help="replace a non-empty destination (drops the destination database)",
    )
    how.add_argument(
        "--resume", action="store_true", help="finish an interrupted copy without recopying finished ranges"
    )
    how.add_argument(
        "--consistent",
        action="store_true",
        help="copy the source as of one cluster time T: replay its change stream after the copy "
        "(replica set or mongos; see docs/how-to/consistent-backups.md)",
    )
    how.add_argument("--no-verify", action="store_true", help="skip the check after the copy (default: verify)")
    how.add_argument("--verify-only", action="store_true", help="copy nothing: compare two existing databases")
    how.add_argument("--dry-run", action="store_true", help="write nothing: list what would be copied, with sizes")
    how.add_argument(
        "--parallel",
        type=positive,
        default=DEFAULT_PARALLEL,
        metavar="N",
        help="most inserts in flight: the copy starts at one and adds more while the destination "
        "absorbs them (default: %(default)s)",
    )
    how.add_argument(
        "--batch-size",
        type=positive,
        default=DEFAULT_BATCH_SIZE,
        metavar="N",
        help="documents per read and insert batch (default: %(default)s)",
    )
    how.add_argument(
        "--range-docs",
        type=positive,
        default=DEFAULT_RANGE_DOCS,
        metavar="N",
        help="split collections larger than this into _id ranges of about N documents (default: %(default)s)",
    )
    timeout_option(how)


def register(sub: Any, parent: argparse.ArgumentParser) -> None:
    """Add the ``backup`` verb (it takes its own connection options: a source and a destination)."""
    p = sub.add_parser(
        "backup",
        help="copy a database (verified, resumable), compare two, or plan a copy",
        description="Copy a MongoDB database to another database or server: documents byte for byte, indexes, "
        "collection options, views and GridFS buckets; then verify the copy.",
        epilog=epilog("analytiq-db backup"),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_backup_arguments(p, several=True)
    p.set_defaults(handler=cmd_backup)


def source_uri(args: argparse.Namespace) -> str:
    """Return the source URI from ``--src-uri`` or the environment; ConfigurationError if none."""
    src_uri = resolve_uri(args.src_uri, what="--src-uri") or resolve_uri(
        os.environ.get(SRC_URI_ENV) or None, what=SRC_URI_ENV
    )
    if not src_uri:
        raise ConfigurationError("no source URI", hint=f"give --src-uri mongodb://host:27017 or set {SRC_URI_ENV}")
    return src_uri


def options_from_args(args: argparse.Namespace) -> BackupOptions:
    """Return validated BackupOptions from the parsed flags and the environment (no connection made)."""
    src_uri = source_uri(args)
    if not args.dest:
        raise ConfigurationError("no destination", hint="give --dest DB (a database), or --archive FILE / --out DIR")
    dest_uri = resolve_uri(args.dest_uri, what="--dest-uri") or resolve_uri(
        os.environ.get(DEST_URI_ENV) or None, what=DEST_URI_ENV
    )
    if args.verify_only and (args.drop or args.resume or args.dry_run or args.consistent):
        raise ConfigurationError(
            "--verify-only copies nothing (and compares with the source as it is now, not at a point in time)",
            hint="leave out --drop, --resume, --dry-run and --consistent",
        )
    timeout_s = settings_from(args).timeout_s
    return BackupOptions(
        src_uri=src_uri,
        dest_uri=dest_uri,
        src_db=args.src,
        dest_db=args.dest,
        drop=args.drop,
        resume=args.resume,
        include=split_patterns(args.include),
        exclude=split_patterns(args.exclude),
        parallel=args.parallel,
        batch_size=args.batch_size,
        range_docs=args.range_docs,
        verify=not args.no_verify,
        dry_run=args.dry_run,
        timeout_s=timeout_s,
        consistent=args.consistent,
    )


async def cmd_backup(args: argparse.Namespace) -> int:
    """Copy (or compare, or plan) and print the guide's lines, a summary, or JSON."""
    if wants_files(args):
        return await cmd_dump(args, source_uri(args))
    options = options_from_args(args)
    if not args.json:
        _print_header(options, args)
    progress = make_backup_progress(args.json)
    try:
        if args.verify_only:
            result = await verify(options, progress)
        else:
            result = await backup(options, progress)
    except CopyMismatch as exc:
        progress.close()
        _print_result(exc.result, args)
        raise
    except asyncio.CancelledError as exc:  # Ctrl-C: the copy stopped between batches
        hint = "run the same command with --resume to finish it" if not (args.verify_only or args.dry_run) else None
        raise Interrupted("interrupted; the destination keeps what was copied so far", hint=hint) from exc
    finally:
        progress.close()
    _print_result(result, args)
    return 0


def _print_header(options: BackupOptions, args: argparse.Namespace) -> None:
    if args.verify_only:
        print(f"Comparing '{options.dest_db}' with '{options.src_db}'")
    elif args.dry_run:
        print(f"Dry run of a backup from '{options.src_db}' to '{options.dest_db}': nothing will be written")
    else:
        print(f"Starting backup from '{options.src_db}' to '{options.dest_db}'")
    print(f"Source URI: {redact_uri(options.src_uri)}")
    print(f"Destination URI: {redact_uri(options.destination_uri)}", flush=True)


def _print_result(result: BackupResult, args: argparse.Namespace) -> None:
    if args.json:
        print_json(result.to_dict())
        return
    print_summary(result)
    if result.point_in_time is not None:
        print(f"Consistent copy: {result.point_in_time.describe()}")
    for note in result.notes:
        print(f"Note: {note}")
    seconds = f"{result.seconds:.1f}s"
    if result.verified is False:
        return  # the error line says it
    if result.mode == "verify-only":
        print(f"Verification passed: {len(result.reports)} collections and views match ({seconds})")
    elif result.mode == "dry-run":
        print(f"Would copy {len(result.reports)} collections and views, {result.documents:,} documents")
    else:
        checked = "verified" if result.verified else "not verified (--no-verify)"
        print(f"Copied {result.documents:,} documents in {seconds}, {checked}{concurrency_note(result)}")
        print("Backup completed successfully!")
