"""``analytiq-db``: one command line for migrations and backups.

Each group of verbs lives in its own module exposing ``register(subparsers, parent)``; a verb's
handler is an async function taking the parsed arguments and returning an exit code. The
command's Settings (flags > environment > pyproject.toml > defaults) are built once, here, and
kept on the arguments as ``args.settings``.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import sys
from collections.abc import Sequence
from importlib import metadata
from typing import Any, NoReturn

from analytiq_data.cli import fleet_options
from analytiq_data.cli.entry import run_entry, setup_logging
from analytiq_data.cli.options import build_settings, common_parent
from analytiq_data.errors import ExitCode

PROG = "analytiq-db"
#: The modules of ``analytiq_data.cli`` that register verbs, in the order ``-h`` lists them.
COMMAND_MODULES = (
    "init_cmds",
    "server_cmds",
    "migrate_cmds",
    "guard_cmds",
    "backup_cmds",
    "sample_cmds",
    "safety_cmds",
    "log_cmds",
)
#: The module of each verb. A run of one of these imports only that module (start-up time); ``-h``,
#: ``--version``, no verb or a verb not listed here registers every module, so nothing is lost.
VERB_MODULES = {
    "init": "init_cmds",
    "ping": "server_cmds",
    **dict.fromkeys(("status", "up", "down", "history", "new", "stamp", "unlock", "resolve"), "migrate_cmds"),
    "check": "guard_cmds",
    "lock": "guard_cmds",
    "backup": "backup_cmds",
    "sample": "sample_cmds",
    "rehearse": "safety_cmds",
    "restore": "safety_cmds",
    "follow": "log_cmds",
    "log": "log_cmds",
}


def version_text(prog: str) -> str:
    """Return ``PROG VERSION`` from the installed distribution's metadata."""
    try:
        found = metadata.version("analytiq_data")
    except metadata.PackageNotFoundError:
        found = "unknown (not installed)"
    return f"{prog} {found}"


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors also print a JSON error object on stdout under ``--json``."""

    def error(self, message: str) -> NoReturn:
        if "--json" in sys.argv[1:]:
            error = {"code": int(ExitCode.USAGE), "name": "usage", "message": message, "hint": f"see {self.prog} -h"}
            print(json.dumps({"error": error}))
        super().error(message)


def add_version(parser: argparse.ArgumentParser, prog: str) -> None:
    """Add ``--version`` (the installed package's version)."""
    parser.add_argument("--version", action="version", version=version_text(prog))


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """Return the parser for every verb, or only for the verb ``argv`` starts with (it parses the same)."""
    parser = Parser(
        prog=PROG,
        description="Versioned, reversible MongoDB migrations and verified database backups.",
    )
    add_version(parser, PROG)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    parent = common_parent()
    for name in modules_for(argv):
        importlib.import_module(f"analytiq_data.cli.{name}").register(sub, parent)
    fleet_options.extend(sub)  # --all-databases, --jobs, ... on the verbs that take several databases
    return parser


def modules_for(argv: Sequence[str] | None) -> tuple[str, ...]:
    """Return the command modules to register: the verb's own when ``argv`` starts with a known verb, else all."""
    if argv:
        own = VERB_MODULES.get(argv[0])
        if own is not None:
            return (own,)
    return COMMAND_MODULES


def run_parsed(prog: str, args: argparse.Namespace, handler: Any) -> int:
    """Build the settings once, run the verb's handler, and map what happens to an exit code."""

    def go() -> int:
        args.settings = build_settings(args)
        chosen = fleet_options.route(args, handler)  # several databases: the verb's handler over many
        return int(asyncio.run(chosen(args)))

    return run_entry(
        prog, go, show_traceback=getattr(args, "traceback", False), as_json=bool(getattr(args, "json", False))
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``analytiq-db`` with ``argv`` (default: the process arguments) and return the exit code."""
    arguments = sys.argv[1:] if argv is None else list(argv)
    args = build_parser(arguments).parse_args(arguments)
    setup_logging(getattr(args, "verbose", 0))
    return run_parsed(PROG, args, args.handler)


def console_main() -> None:
    """Entry point of the ``analytiq-db`` console script."""
    sys.exit(main())


if __name__ == "__main__":
    console_main()
