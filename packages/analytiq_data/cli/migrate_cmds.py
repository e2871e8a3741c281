"""Verbs of the migrate group: status, up, down, history, new, stamp, unlock, resolve.

Parsing and wiring only: each handler loads the migration list (checked once), builds the Target
from the settings, calls the verb in ``analytiq_data.migrations.engine.verbs`` (the module
``analytiq_data.migrations.run_migrations`` calls too) and hands the result to ``migrate_render``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import signal
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from analytiq_data.cli import migrate_render as render
from analytiq_data.cli.migrate_options import (
    connected,
    driver_option,
    load_list,
    lock_options,
    migration_list_option,
    migration_spec,
    run_options,
)
from analytiq_data.cli.options import count, positive, settings_from
from analytiq_data.cli.render import ClosableProgress, make_progress, print_json, steps_print_to_stderr
from analytiq_data.errors import AnalytiqError, ConfigurationError
from analytiq_data.fleet.migrate import needs_a_person
from analytiq_data.migrations.engine import verbs
from analytiq_data.migrations.engine.loader import load_hooks
from analytiq_data.migrations.engine.options import StopRequest
from analytiq_data.migrations.engine.scaffold import new as scaffold_new
from analytiq_data.migrations.engine.target import Target
from analytiq_data.uri import resolve_uri

if TYPE_CHECKING:
    from analytiq_data.safety.backup_first import BackupFirst


def _backup_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("backup")
    group.add_argument(
        "--backup",
        action="store_true",
        help="first make a verified copy of the database (under the lock, only when steps are pending); "
        "no step runs unless it verifies",
    )
    group.add_argument(
        "--backup-uri", metavar="URI", help="server for the copy, or env:NAME / file:PATH (default: the same server)"
    )
    group.add_argument(
        "--backup-db", metavar="NAME", help="name of the copy (default: <db>_backup_v<version>_<UTC yyyymmddHHMMSS>)"
    )
    group.add_argument(
        "--backup-log",
        metavar="DIR",
        help="with a follower running into DIR (analytiq-db follow): record a restore point in its log instead "
        "of copying (a full copy if no follower runs)",
    )


def _check_backup_options(args: argparse.Namespace) -> None:
    """Refuse ``--backup-uri``/``--backup-db``/``--backup-log`` without ``--backup`` (before connecting)."""
    if not getattr(args, "backup", False) and (getattr(args, "backup_uri", None) or getattr(args, "backup_db", None)):
        raise ConfigurationError("--backup-uri and --backup-db need --backup", hint="add --backup")
    if not getattr(args, "backup", False) and getattr(args, "backup_log", None):
        raise ConfigurationError("--backup-log needs --backup", hint="add --backup")


def _backup_hook(args: argparse.Namespace, target: Target) -> BackupFirst | None:
    """Return the backup-first hook asked for by ``--backup`` (None without it), for ``target``."""
    if not getattr(args, "backup", False):
        return None
    from analytiq_data.safety.backup_first import BackupFirst  # only with --backup: the backup engine is heavy

    backup_uri = resolve_uri(args.backup_uri, what="--backup-uri") if args.backup_uri else None
    copy = BackupFirst.for_target(target, backup_uri=backup_uri, backup_db=args.backup_db)
    if getattr(args, "backup_log", None):
        from analytiq_data.safety.log_point import LogPointFirst

        return LogPointFirst(args.backup_log, copy)  # type: ignore[return-value]  # same hook shape: name, __call__
    return copy


def _hooks_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--hooks",
        metavar="MODULE:ATTRIBUTE",
        help="the application's run hooks (a RunHooks object): awaited under the lock before the first step "
        "and after the last, on every run",
    )


def register(sub: Any, parent: argparse.ArgumentParser) -> None:
    """Add the migrate verbs to the parser."""
    p = sub.add_parser("status", parents=[parent], help="show applied and pending migrations and any problem")
    migration_list_option(p)
    p.set_defaults(handler=cmd_status)

    p = sub.add_parser("up", parents=[parent], help="apply pending migrations (to the newest, or --to N)")
    p.add_argument("--to", type=count, metavar="N", help="stop at version N (default: the newest)")
    p.add_argument(
        "--dry-run", action="store_true", help="show the plan (steps, direction, transactions); change nothing"
    )
    migration_list_option(p)
    driver_option(p)
    lock_options(p, steps=True)
    _hooks_option(p)
    _backup_options(p)
    p.set_defaults(handler=cmd_up)

    p = sub.add_parser(
        "down",
        parents=[parent],
        help="revert migrations: one step by default, or --to N, or --steps K",
        description="Revert migrations. Without --to or --steps, goes down ONE step.",
    )
    how = p.add_mutually_exclusive_group()
    how.add_argument("--to", type=count, metavar="N", help="go down to version N (0 = nothing applied)")
    how.add_argument("--steps", type=positive, metavar="K", help="go down K steps (default: 1)")
    p.add_argument(
        "--dry-run", action="store_true", help="show the plan (steps, direction, transactions); change nothing"
    )
    migration_list_option(p)
    driver_option(p)
    lock_options(p, steps=True)
    _hooks_option(p)
    p.set_defaults(handler=cmd_down)

    p = sub.add_parser("history", parents=[parent], help="show what ran, when, where, and how it ended")
    p.add_argument(
        "--limit", type=count, default=20, metavar="N", help="show the newest N records (0 = all; default 20)"
    )
    p.add_argument("--version", type=positive, metavar="N", help="only records of version N")
    migration_list_option(p)  # accepted as by every verb; the history is read from the database alone
    p.set_defaults(handler=cmd_history)

    p = sub.add_parser("new", parents=[parent], help="write a new migration class and register it at the end")
    p.add_argument("description", help='what the migration does, e.g. "add index on users.email"')
    migration_list_option(p)
    p.set_defaults(handler=cmd_new)

    p = sub.add_parser("stamp", parents=[parent], help="record version N without running any step")
    p.add_argument("version", type=count, metavar="N", help="the version to record (0 = nothing applied)")
    p.add_argument(
        "--yes",
        action="store_true",
        help="record N even though it is below the current version: the applied steps above N are recorded "
        "as not applied, and the next up runs them again",
    )
    migration_list_option(p)
    lock_options(p)
    p.set_defaults(handler=cmd_stamp)

    p = sub.add_parser("unlock", parents=[parent], help="clear a stale migration lock after saying who held it")
    p.add_argument("--force", action="store_true", help="clear it even though its lease has not expired")
    migration_list_option(p)  # accepted as by every verb; the lock is read from the database alone
    p.set_defaults(handler=cmd_unlock)

    p = sub.add_parser("resolve", parents=[parent], help="after a dirty step, record whether its change is in the data")
    p.add_argument("--mark", required=True, choices=("applied", "reverted"), help="what is true of the dirty step")
    p.add_argument("--version", type=positive, metavar="N", help="the dirty step's version (a check)")
    migration_list_option(p)
    lock_options(p)
    p.set_defaults(handler=cmd_resolve)


@contextlib.contextmanager
def _stop_on_signals(stop: StopRequest, progress: ClosableProgress) -> Iterator[None]:
    """Turn SIGINT/SIGTERM into stop requests while a run is under way, then restore the handlers."""

    def announce(count: int) -> None:
        if count == 1:
            progress.note("stopping after the current step (interrupt again to abort it now)")
        else:
            progress.note("aborting the current step")

    stop.listen(announce)
    loop = asyncio.get_running_loop()
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    for sig in previous:
        loop.add_signal_handler(sig, stop.request)
    try:
        yield
    finally:
        for sig, handler in previous.items():
            loop.remove_signal_handler(sig)
            signal.signal(sig, handler)


def _name_the_backup(exc: AnalytiqError, hook: BackupFirst | None, args: argparse.Namespace) -> None:
    """Add to a failed run's line the verified backup it made first and the command restoring it."""
    settings = settings_from(args)
    given = getattr(args, "uri", None) or settings.uri
    said = hook.recovery_hint(given, settings.db, getattr(args, "backup_uri", None)) if hook is not None else None
    if said is not None:
        exc.hint = f"{exc.hint}; {said}" if exc.hint else said


async def _run(args: argparse.Namespace, verb: str) -> int:
    migrations = load_list(args)
    options = run_options(args, dry_run=args.dry_run)
    _check_backup_options(args)
    if args.hooks:
        options = dataclasses.replace(options, hooks=load_hooks(args.hooks))
    progress = make_progress(args.json)
    stop = StopRequest(handles_signals=True)  # Ctrl-C/SIGTERM become requests (_stop_on_signals)
    hook: BackupFirst | None = None
    try:
        async with connected(args, migrations) as target:
            hook = _backup_hook(args, target)
            if hook is not None:
                options = dataclasses.replace(options, before_steps=hook)
            with _stop_on_signals(stop, progress), steps_print_to_stderr(args.json):
                if verb == "up":
                    result = await verbs.up(target, migrations, args.to, options=options, progress=progress, stop=stop)
                else:
                    result = await verbs.down(
                        target, migrations, args.to, args.steps, options=options, progress=progress, stop=stop
                    )
    except AnalytiqError as exc:
        _name_the_backup(exc, hook, args)
        raise
    finally:
        progress.close()
    if hook is not None and hook.name is not None and args.json:
        print_json({**result.to_json(), "backup": hook.name})
        return 0
    render.run_result(result, args.json)
    if hook is not None and hook.name is not None:
        print(f"backup: {hook.name} ({'recorded' if getattr(hook, 'point', None) else 'verified'})")
    return 0


async def cmd_up(args: argparse.Namespace) -> int:
    """Apply pending migrations up to the newest version or ``--to N``."""
    return await _run(args, "up")


async def cmd_down(args: argparse.Namespace) -> int:
    """Revert migrations: one step, ``--steps K`` or ``--to N``."""
    return await _run(args, "down")


async def cmd_status(args: argparse.Namespace) -> int:
    """Show where the database stands against the migration list; exit 1 when it flags a problem
    that needs a person (the findings that fail ``check``: a reordered list, changed code, a
    database newer than the code, a dirty step; and an unfinished restore, running or interrupted).
    Pending steps and a running migration exit 0."""
    migrations = load_list(args)
    async with connected(args) as target:
        result = await verbs.status(target, migrations)
    render.status_result(result, args.json)
    return 1 if needs_a_person(result) else 0


async def cmd_history(args: argparse.Namespace) -> int:
    """Show the migration history, newest first."""
    async with connected(args) as target:
        result = await verbs.history(target, limit=args.limit, version=args.version)
    render.history_result(result, args.json)
    return 0


async def cmd_new(args: argparse.Namespace) -> int:
    """Write a new migration class into the migrations module and register it."""
    result = scaffold_new(migration_spec(args), args.description)
    render.new_result(result, args.json)
    return 0


async def cmd_stamp(args: argparse.Namespace) -> int:
    """Record a version without running any step."""
    migrations = load_list(args)
    progress = make_progress(args.json)  # says so when it waits for the lock
    try:
        async with connected(args) as target:
            result = await verbs.stamp(
                target, migrations, args.version, options=run_options(args), progress=progress, rerun_ok=args.yes
            )
    finally:
        progress.close()
    render.stamp_result(result, args.json)
    return 0


async def cmd_unlock(args: argparse.Namespace) -> int:
    """Clear a stale migration lock."""
    async with connected(args) as target:
        result = await verbs.unlock(target, force=args.force)
    render.unlock_result(result, args.json)
    return 0


async def cmd_resolve(args: argparse.Namespace) -> int:
    """Record whether a dirty step's change is in the data."""
    migrations = load_list(args)
    progress = make_progress(args.json)  # says so when it waits for the lock
    try:
        async with connected(args) as target:
            result = await verbs.resolve(
                target, migrations, args.mark, args.version, options=run_options(args), progress=progress
            )
    finally:
        progress.close()
    render.resolve_result(result, args.json)
    return 0
