"""``backup-db`` (and the guide's ``backup_db.py``): the backup command line, the same as ``analytiq-db backup``.

``python -m analytiq_data.cli.backup_main`` runs it too.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from analytiq_data.cli.backup_cmds import add_backup_arguments, cmd_backup, epilog
from analytiq_data.cli.entry import setup_logging
from analytiq_data.cli.main import Parser, add_version, run_parsed

PROG = "backup-db"


def build_parser(prog: str = PROG) -> argparse.ArgumentParser:
    """Return the parser of ``backup-db`` / ``backup_db.py``."""
    parser = Parser(
        prog=prog,
        description="Copy a MongoDB database to another database or server, verified and resumable.",
        epilog=epilog(prog),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_version(parser, prog)
    add_backup_arguments(parser)
    return parser


def main(argv: Sequence[str] | None = None, *, prog: str | None = None) -> int:
    """Run the backup command line and return the exit code (``prog`` names it in help and errors)."""
    name = prog or _invoked_as()
    args = build_parser(name).parse_args(argv)
    setup_logging(args.verbose)
    return run_parsed(name, args, cmd_backup)


def _invoked_as() -> str:
    script = Path(sys.argv[0]).name if sys.argv and sys.argv[0] else PROG
    return script if script in ("backup_db.py", PROG) else PROG


def console_main() -> None:
    """Entry point of ``backup-db`` and ``backup_db.py``."""
    sys.exit(main())


if __name__ == "__main__":
    console_main()
