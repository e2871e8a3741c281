"""``analytiq-db backup --archive FILE | --out DIR``: dump a database to mongodump's file formats.

Parsing, wiring and drawing only: the work lives in ``analytiq_data.backup.files``. With
``--archive -`` the archive goes to stdout, so every line meant for a person (and ``--json``) goes
to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys

from analytiq_data.backup.files import DumpOptions, dump
from analytiq_data.backup.options import split_patterns
from analytiq_data.backup.results import BackupResult, CopyMismatch
from analytiq_data.cli.backup_render import make_backup_progress, megabytes, summary_rows
from analytiq_data.cli.options import settings_from
from analytiq_data.cli.render import print_json, print_table
from analytiq_data.errors import ConfigurationError, Interrupted
from analytiq_data.uri import redact_uri


def add_file_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--archive``, ``--out`` and ``--gzip`` (a dump to files instead of ``--dest``)."""
    files = parser.add_argument_group("to files (mongodump's formats, instead of --dest)")
    files.add_argument(
        "--archive", metavar="FILE", help="write one archive file (- for stdout), as mongodump --archive"
    )
    files.add_argument("--out", metavar="DIR", help="write DIR/<db>/<collection>.bson and .metadata.json files")
    files.add_argument("--gzip", action="store_true", help="compress the archive, or each file of --out")


def wants_files(args: argparse.Namespace) -> bool:
    """Return whether the command line asks for a dump to files."""
    return bool(getattr(args, "archive", None) or getattr(args, "out", None))


def dump_options_from_args(args: argparse.Namespace, src_uri: str) -> DumpOptions:
    """Return validated DumpOptions from the parsed flags (no connection made)."""
    clash = [
        flag
        for flag, on in (
            ("--dest", args.dest),
            ("--dest-uri", args.dest_uri),
            ("--resume", args.resume),
            ("--verify-only", args.verify_only),
            ("--dry-run", args.dry_run),
        )
        if on
    ]
    if args.archive and args.out:
        raise ConfigurationError("--archive and --out are two kinds of dump", hint="give one of them")
    if clash:
        raise ConfigurationError(
            f"{', '.join(clash)} cannot be used with --archive/--out",
            hint="a dump to files has no destination database",
        )
    timeout_s = settings_from(args).timeout_s
    return DumpOptions(
        src_uri=src_uri,
        src_db=args.src,
        archive=args.archive,
        out=args.out,
        gzip=args.gzip,
        drop=args.drop,
        include=split_patterns(args.include),
        exclude=split_patterns(args.exclude),
        parallel=args.parallel,
        batch_size=args.batch_size,
        verify=not args.no_verify,
        timeout_s=timeout_s,
        consistent=args.consistent,
    )


async def cmd_dump(args: argparse.Namespace, src_uri: str) -> int:
    """Dump to files and print the lines, a summary, or JSON (all on stderr when the archive is stdout)."""
    options = dump_options_from_args(args, src_uri)
    stdout = sys.stdout.buffer  # the archive's stream, taken before human output is sent to stderr
    human = contextlib.redirect_stdout(sys.stderr) if options.to_stdout else contextlib.nullcontext()
    with human:
        if not args.json:
            print(f"Starting dump of '{options.src_db}' to {options.destination}")
            print(f"Source URI: {redact_uri(options.src_uri)}", flush=True)
        progress = make_backup_progress(args.json)
        try:
            result = await dump(options, progress, stdout=stdout)
        except CopyMismatch as exc:
            progress.close()
            _print_result(exc.result, args)
            raise
        except asyncio.CancelledError as exc:  # Ctrl-C: the partial file is removed
            raise Interrupted("interrupted; no dump file was left behind", hint="run the command again") from exc
        finally:
            progress.close()
        _print_result(result, args)
    return 0


def _print_result(result: BackupResult, args: argparse.Namespace) -> None:
    if args.json:
        print_json(result.to_dict())
        return
    columns = ["collection", "kind", "documents", "size", "indexes", "ranges", "verified"]
    print_table(f"Dump {result.src_db!r} → {result.destination}", columns, summary_rows(result))
    if result.point_in_time is not None:
        print(f"Consistent dump: {result.point_in_time.describe_dump()}")
    for note in result.notes:
        print(f"Note: {note}")
    if result.verified is False:
        return
    checked = "verified (read back)" if result.verified else "not read back"
    print(f"Dumped {result.documents:,} documents ({megabytes(result.nbytes)}) in {result.seconds:.1f}s, {checked}")
    print("Dump completed successfully!")
