"""``analytiq-db restore --from-log DIR --at WHEN | --before-migration N``: the database as of a moment.

Parsing, wiring and drawing only: the work lives in ``analytiq_data.safety.restore_log``.
"""

from __future__ import annotations

import argparse
import sys

from analytiq_data.cli.migrate_options import restore_fields
from analytiq_data.cli.options import announce, confirm_replace, positive
from analytiq_data.cli.render import make_progress, print_json
from analytiq_data.errors import ConfigurationError
from analytiq_data.safety.restore_log import LogRestoreOptions, LogRestoreResult, plan_log_restore, restore_to_moment


def add_log_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--from-log DIR``, ``--at WHEN`` and ``--before-migration N``."""
    group = parser.add_argument_group("to a moment, from an event log (analytiq-db follow)")
    group.add_argument("--from-log", metavar="DIR", help="the log directory analytiq-db follow --to wrote")
    group.add_argument(
        "--at", metavar="WHEN", help="the moment: 'Timestamp(s, i)' (a cluster time) or an ISO-8601 time (UTC)"
    )
    group.add_argument(
        "--before-migration", type=positive, metavar="N", help="the moment just before migration N started"
    )


def wants_log(args: argparse.Namespace) -> bool:
    """Return whether the command line asks for a restore from an event log."""
    return bool(getattr(args, "from_log", None) or getattr(args, "at", None) or getattr(args, "before_migration", None))


def log_restore_options(args: argparse.Namespace) -> LogRestoreOptions:
    """Return validated LogRestoreOptions from the parsed flags (no connection made)."""
    if not args.from_log:
        raise ConfigurationError("--at and --before-migration need --from-log DIR", hint="add --from-log DIR")
    if args.from_db or args.from_uri or args.archive or args.dir:
        raise ConfigurationError("--from-log is a backup of its own", hint="not with --from, --archive or --dir")
    return LogRestoreOptions(
        **restore_fields(args), log_dir=args.from_log, at=args.at, before_migration=args.before_migration
    )


async def cmd_restore_log(args: argparse.Namespace) -> int:
    """Restore the database to a moment from the log; a database holding data needs --yes (or a typed name)."""
    from analytiq_data.safety.restore_files import target_holds_data

    options = log_restore_options(args)
    plan, named = await plan_log_restore(options)  # a moment outside the log fails here, nothing touched
    announce(args)
    if not args.yes and await target_holds_data(options.file_options(str(plan.base_path))):
        confirm_replace(options.db, f"its state as of {named}", can_ask=sys.stdin.isatty())
    progress = make_progress(args.json)
    try:
        result = await restore_to_moment(options, progress, (plan, named))
    finally:
        progress.close()
    render_log_restore(result, args.json)
    return 0


def render_log_restore(result: LogRestoreResult, as_json: bool) -> None:
    """Print what was restored, and to which moment."""
    if as_json:
        print_json(result.to_json())
        return
    r = result.restore
    dropped = f"; dropped {', '.join(r.dropped)}" if r.dropped else ""
    version = f" at version {r.version}" if r.version is not None else ""
    print(
        f"restored database {r.database} to {result.named}{version}: {len(r.collections)} collections, "
        f"{r.documents:,} documents ({result.events:,} events replayed after the base){dropped}; "
        f"counts checked ({r.seconds:.1f}s)"
    )
