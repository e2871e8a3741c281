"""``analytiq-db``: one command line for migrations and backups.

Each group of verbs lives in its own module exposing ``register(subparsers, parent)``; a verb's
handler is an async function taking the parsed arguments and returning an exit code.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence

from analytiq_data.cli import backup_cmds, guard_cmds, migrate_cmds, safety_cmds, sample_cmds, server_cmds
from analytiq_data.cli.entry import run_entry, setup_logging
from analytiq_data.cli.options import common_parent

PROG = "analytiq-db"
COMMAND_MODULES = (server_cmds, migrate_cmds, guard_cmds, backup_cmds, sample_cmds, safety_cmds)


def build_parser() -> argparse.ArgumentParser:
    """Return the parser for every verb."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Versioned, reversible MongoDB migrations and verified database backups.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    parent = common_parent()
    for module in COMMAND_MODULES:
        module.register(sub, parent)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``analytiq-db`` with ``argv`` (default: the process arguments) and return the exit code."""
    args = build_parser().parse_args(argv)
    setup_logging(getattr(args, "verbose", 0))
    handler = args.handler
    return run_entry(PROG, lambda: asyncio.run(handler(args)), show_traceback=getattr(args, "traceback", False))


def console_main() -> None:
    """Entry point of the ``analytiq-db`` console script."""
    sys.exit(main())


if __name__ == "__main__":
    console_main()
