"""``backup``, ``restore`` and ``rehearse`` over several databases (see ``fleet_cmds``).

- ``backup --src 'tenant_*' --out DIR`` (or ``--all-databases``, ``--src`` repeated): one
  ``DIR/<db>/`` per database, ``--jobs`` at once; ``--archive FILE``: one archive holding them all.
- ``restore --archive FILE | --dir DIR --db 'tenant_*' --yes``: each selected database of the dump
  into the database of the same name (``--all-databases``: every one the dump holds).
- ``rehearse --db 'tenant_*' [--sample-dbs K]``: rehearse on each (or on the K whose data shapes
  differ most).

Parsing and wiring only: the work is ``analytiq_data.fleet.files`` and ``fleet.rehearse``.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Callable

from analytiq_data.backup.files.options import DumpOptions
from analytiq_data.cli.backup_cmds import source_uri
from analytiq_data.cli.dump_cmds import dump_options_from_args
from analytiq_data.cli.fleet_cmds import announcer, run_fleet, selection
from analytiq_data.cli.fleet_render import FleetLines
from analytiq_data.cli.migrate_options import load_list
from analytiq_data.cli.restore_files_cmds import file_restore_options
from analytiq_data.errors import ConfigurationError
from analytiq_data.fleet.files import backup_many, restore_many
from analytiq_data.fleet.rehearse import rehearse_many
from analytiq_data.fleet.results import FleetResult
from analytiq_data.fleet.run import Fleet, Plan
from analytiq_data.fleet.select import Selection
from analytiq_data.migrations.engine.options import StopRequest
from analytiq_data.uri import redact_uri


def _backup_selection(args: argparse.Namespace) -> Selection:
    if args.all_databases:
        return Selection(("*",), tuple(args.exclude_db or ()), "--all-databases")
    return Selection(tuple(args.src), tuple(args.exclude_db or ()), "--src")


def _say_backup(args: argparse.Namespace, src_uri: str) -> Callable[[Plan], None]:
    def announce(plan: Plan) -> None:
        if args.json:
            return
        where = args.archive if args.archive else f"{args.out}/<db>"
        print(f"Starting dump of {plan.resolved.describe()} to {where}; {plan.jobs} at a time", file=sys.stderr)
        print(f"Source URI: {redact_uri(src_uri)}", file=sys.stderr, flush=True)

    return announce


async def cmd_backup(args: argparse.Namespace) -> int:
    """Dump every selected database to ``--out DIR`` (one directory each) or into one ``--archive``."""
    if not (args.out or args.archive):
        raise ConfigurationError(
            "several databases are backed up to files", hint="give --out DIR (one directory each) or --archive FILE"
        )
    src_uri = source_uri(args)

    def options_for(name: str) -> DumpOptions:
        return dump_options_from_args(argparse.Namespace(**{**vars(args), "src": name}), src_uri)

    if args.archive and args.consistent:
        raise ConfigurationError("--consistent dumps one database at one cluster time", hint="leave it out")
    options_for("flags_check")  # the flags checked once, before connecting (a clash is one line)
    stdout = sys.stdout.buffer
    human = contextlib.redirect_stdout(sys.stderr) if args.archive == "-" else contextlib.nullcontext()

    async def call(fleet: Fleet, view: FleetLines, stop: StopRequest) -> FleetResult:
        return await backup_many(
            fleet, _backup_selection(args), options_for, archive=bool(args.archive), jobs=args.jobs,
            keep_going=args.keep_going, stop=stop, progress=view, announce=_say_backup(args, src_uri),
            stdout=stdout,
        )  # fmt: skip

    with human:  # the archive alone on stdout
        return (await run_fleet(args, call, uri=src_uri)).exit_code


async def cmd_restore(args: argparse.Namespace) -> int:
    """Restore each selected database of a dump into the database of the same name (needs --yes)."""
    if getattr(args, "from_log", None) or args.from_db:
        hint = "give --archive FILE or --dir DIR (not --from/--from-log)"
        raise ConfigurationError("several databases are restored from a dump", hint=hint)
    if not (args.archive or args.dir):
        raise ConfigurationError("no dump to restore", hint="give --archive FILE or --dir DIR")
    if args.dump_db:
        raise ConfigurationError("--from-db names one database of a dump", hint="leave it out: each keeps its name")
    if not args.yes:
        raise ConfigurationError(
            "restore replaces each selected database with its copy in the dump: nothing changed", hint="pass --yes"
        )
    options = file_restore_options(args)

    async def call(fleet: Fleet, view: FleetLines, stop: StopRequest) -> FleetResult:
        return await restore_many(
            fleet, selection(args), options, jobs=args.jobs, keep_going=args.keep_going, stop=stop,
            progress=view, announce=announcer(args),
        )  # fmt: skip

    return (await run_fleet(args, call)).exit_code


async def cmd_rehearse(args: argparse.Namespace) -> int:
    """Rehearse pending migrations on each selected database (or on the K whose data differ most)."""
    if args.from_log:
        raise ConfigurationError("--from-log rebuilds one database from its event log", hint="give one --db")
    migrations = load_list(args)

    async def call(fleet: Fleet, view: FleetLines, stop: StopRequest) -> FleetResult:
        return await rehearse_many(
            fleet, selection(args), migrations, to=args.to, sample=args.sample, keep=args.keep,
            sample_dbs=args.sample_dbs, jobs=args.jobs, keep_going=args.keep_going, stop=stop,
            progress=view, announce=announcer(args),
        )  # fmt: skip

    return (await run_fleet(args, call, migrations=migrations)).exit_code
