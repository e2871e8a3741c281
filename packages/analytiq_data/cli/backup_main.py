"""``backup_db.py``: the guide's backup command line, the same as ``analytiq-db backup``."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence

from analytiq_data.cli.backup_cmds import EPILOG, add_backup_arguments, cmd_backup
from analytiq_data.cli.entry import run_entry, setup_logging

PROG = "backup_db.py"


def build_parser() -> argparse.ArgumentParser:
    """Return the parser of ``backup_db.py``."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Copy a MongoDB database to another database or server, verified and resumable.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_backup_arguments(parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the guide's backup command line and return the exit code."""
    args = build_parser().parse_args(argv)
    setup_logging(args.verbose)
    return run_entry(PROG, lambda: asyncio.run(cmd_backup(args)), show_traceback=args.traceback)


def console_main() -> None:
    """Entry point of ``backup_db.py``."""
    sys.exit(main())
