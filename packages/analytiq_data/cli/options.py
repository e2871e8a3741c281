"""Options shared by every verb: where to connect, how to print, how to fail."""

from __future__ import annotations

import argparse

from analytiq_data.settings import Settings


def connection_options(parser: argparse.ArgumentParser, *, with_db: bool = True) -> None:
    """Add ``--uri``, ``--db`` and ``--timeout`` (flags, then MONGODB_URI/ENV, then defaults)."""
    group = parser.add_argument_group("connection")
    group.add_argument(
        "--uri",
        help="MongoDB URI, or env:NAME / file:PATH to read it from there (default: $MONGODB_URI, "
        "else mongodb://localhost:27017)",
    )
    if with_db:
        group.add_argument("--db", help="database name (default: $ENV, else 'dev')")
    group.add_argument(
        "--timeout",
        type=float,
        metavar="SECONDS",
        help="how long to look for a server before giving up (default: $ANALYTIQ_DB_TIMEOUT, else 5)",
    )


def output_options(parser: argparse.ArgumentParser) -> None:
    """Add ``--json``, ``-v`` and ``--traceback``."""
    group = parser.add_argument_group("output")
    group.add_argument("--json", action="store_true", help="print the result as JSON on stdout")
    group.add_argument("-v", "--verbose", action="count", default=0, help="show log lines on stderr")
    group.add_argument("--traceback", action="store_true", help="show the full traceback on errors")


def common_parent() -> argparse.ArgumentParser:
    """Return a parent parser holding the connection and output options."""
    parent = argparse.ArgumentParser(add_help=False)
    connection_options(parent)
    output_options(parent)
    return parent


def settings_from(args: argparse.Namespace) -> Settings:
    """Return the Settings named by the parsed flags, the environment and the defaults."""
    return Settings.load(uri=args.uri, db=getattr(args, "db", None), timeout_s=args.timeout)
