"""The verbs over several databases: ``status``, ``up``, ``down``, ``history``, ``check``, ``stamp``
(and, in ``fleet_files_cmds``, ``backup``, ``restore``, ``rehearse``).

Parsing and wiring only: ``fleet_options.route`` sends a command here when it selects several
databases; each handler builds the Fleet (one client of our own), the Selection and the options from
the same settings as the one-database verb, calls ``analytiq_data.fleet`` and draws the result
(``fleet_render``, ``fleet_reads``). The exit code is the worst of the databases' (``status`` and
``check``: 1 when one needs a person).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import importlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

from analytiq_data.cli.fleet_reads import render_check, render_history, render_status
from analytiq_data.cli.fleet_render import FleetLines, make_fleet_progress, render_fleet
from analytiq_data.cli.migrate_cmds import _check_backup_options, _stop_on_signals
from analytiq_data.cli.migrate_options import load_list, run_options, steps_driver
from analytiq_data.cli.options import connection_info, settings_from
from analytiq_data.cli.render import QuietProgress, steps_print_to_stderr, where
from analytiq_data.client import make_client
from analytiq_data.errors import ConfigurationError
from analytiq_data.fleet.migrate import check_many, history_many, migrate_many, needs_a_person, stamp_many, status_many
from analytiq_data.fleet.results import FleetResult
from analytiq_data.fleet.run import Fleet, Plan
from analytiq_data.fleet.select import Selection
from analytiq_data.migrations.engine.loader import load_hooks
from analytiq_data.migrations.engine.options import RunOptions, StopRequest
from analytiq_data.migrations.engine.plan import MigrationList
from analytiq_data.migrations.engine.target import Target
from analytiq_data.uri import resolve_uri

Handler = Callable[[argparse.Namespace], Any]


def selection(
    args: argparse.Namespace, patterns: tuple[str, ...] | None = None, origin: str | None = None
) -> Selection:
    """Return what the command selects: the settings' databases (or ``patterns``) less ``--exclude``."""
    settings = settings_from(args)
    settings.importable()  # a module:ATTRIBUTE naming the application's list is imported from the project
    found = patterns if patterns is not None else settings.databases
    assert found is not None  # fleet_options.route sends only several databases here
    return Selection(found, tuple(getattr(args, "exclude_db", None) or ()), origin or settings.source("databases"))


def announcer(args: argparse.Namespace, steps: tuple[str, str] | None = None) -> Callable[[Plan], None]:
    """Return what says where the command works once the databases are known: a ``target:`` line on stderr
    (``connection`` in the JSON), with how many databases run at once and why."""

    def announce(plan: Plan) -> None:
        info = connection_info(settings_from(args), steps)
        info.pop("database_from", None)
        info["database"] = list(plan.resolved.names)
        info["selection"] = plan.resolved.describe()
        info["jobs"], info["jobs_why"] = plan.jobs, plan.jobs_why
        uri_from = "the default" if info["uri_from"] == "default" else f"from {info['uri_from']}"
        why = plan.jobs_why.partition(": ")[2] or plan.jobs_why
        info["line"] = f"{plan.resolved.describe()} on {info['uri']} ({uri_from}); {plan.jobs} at a time ({why})"
        where(info, as_json=bool(getattr(args, "json", False)))

    return announce


@contextlib.asynccontextmanager
async def fleet_of(
    args: argparse.Namespace, migrations: MigrationList | None = None, *, uri: str | None = None
) -> AsyncIterator[Fleet]:
    """Yield the Fleet of the settings (or of ``uri``): a client of our own (closed after), the steps'
    database kind."""
    driver = steps_driver(args, migrations) if migrations is not None else None
    settings = settings_from(args)
    where = uri or settings.uri
    client = make_client(where, timeout_s=settings.timeout_s)
    try:
        yield Fleet(client, where, settings.timeout_s, driver[0] if driver else "auto")
    finally:
        await client.close()


def signal_stop() -> StopRequest:
    """Return the run's stop request, which Ctrl-C and SIGTERM feed (``stopping``)."""
    return StopRequest(handles_signals=True)


@contextlib.contextmanager
def stopping(stop: StopRequest, view: FleetLines, as_json: bool = False) -> Iterator[None]:
    """Turn Ctrl-C/SIGTERM into stop requests for the whole run (as one run does), saying what they do;
    under ``--json``, what the application's steps print goes to stderr (stdout holds the JSON)."""

    def say(count: int) -> None:
        if count == 1:
            view.note(None, "stopping: no new database starts; those running stop after their current step")

    stop.listen(say)
    with _stop_on_signals(stop, QuietProgress()), steps_print_to_stderr(as_json):
        yield


#: The work of a command over several databases: given the Fleet, the view to report to and the stop request.
FleetCall = Callable[[Fleet, FleetLines, StopRequest], Awaitable[FleetResult]]


async def run_fleet(
    args: argparse.Namespace,
    call: FleetCall,
    *,
    migrations: MigrationList | None = None,
    stops: bool = True,
    uri: str | None = None,
    render: Callable[[FleetResult, bool], None] = render_fleet,
) -> FleetResult:
    """Run ``call`` on the Fleet of the settings (``fleet_of``) with the view fitting the output, then
    draw its result (``render``) and return it. With ``stops``, Ctrl-C and SIGTERM are stop requests
    for the whole run (``stopping``); without, the verb only reads and Ctrl-C ends it."""
    view = make_fleet_progress(args.json)
    stop = signal_stop()
    try:
        async with fleet_of(args, migrations, uri=uri) as fleet:
            with stopping(stop, view, args.json) if stops else contextlib.nullcontext():
                result = await call(fleet, view, stop)
    finally:
        view.close()
    render(result, args.json)
    return result


def _options_for(args: argparse.Namespace, base: RunOptions) -> Callable[[Target], RunOptions] | None:
    """Return how each database's options get its own backup-first hook (``--backup``), or None."""
    _check_backup_options(args)
    if not getattr(args, "backup", False):
        return None
    if args.backup_db or getattr(args, "backup_log", None):
        raise ConfigurationError(
            "--backup-db and --backup-log name one database's backup", hint="leave them out for several databases"
        )
    from analytiq_data.safety.backup_first import BackupFirst  # only with --backup: the backup engine is heavy

    backup_uri = resolve_uri(args.backup_uri, what="--backup-uri") if args.backup_uri else None

    def options(target: Target) -> RunOptions:
        return dataclasses.replace(base, before_steps=BackupFirst.for_target(target, backup_uri=backup_uri))

    return options


async def _run(args: argparse.Namespace, verb: str) -> int:
    migrations = load_list(args)
    options = run_options(args, dry_run=args.dry_run)
    if args.hooks:
        options = dataclasses.replace(options, hooks=load_hooks(args.hooks))
    per_database = _options_for(args, options)

    async def call(fleet: Fleet, view: FleetLines, stop: StopRequest) -> FleetResult:
        return await migrate_many(
            fleet, selection(args), migrations, "up" if verb == "up" else "down",
            to=args.to, steps=getattr(args, "steps", None), options=options, per_database=per_database,
            jobs=args.jobs, keep_going=args.keep_going, stop=stop, progress=view,
            announce=announcer(args, steps_driver(args, migrations)),
        )  # fmt: skip

    return (await run_fleet(args, call, migrations=migrations)).exit_code


async def cmd_up(args: argparse.Namespace) -> int:
    """Apply pending migrations on every selected database."""
    return await _run(args, "up")


async def cmd_down(args: argparse.Namespace) -> int:
    """Revert migrations on every selected database."""
    return await _run(args, "down")


async def cmd_status(args: argparse.Namespace) -> int:
    """Show how many databases are at each version; exit 1 when one needs a person."""
    migrations = load_list(args)

    async def call(fleet: Fleet, view: FleetLines, stop: StopRequest) -> FleetResult:
        return await status_many(fleet, selection(args), migrations, jobs=args.jobs, progress=view,
                                 announce=announcer(args))  # fmt: skip

    result = await run_fleet(args, call, stops=False, render=render_status)
    attention = any(needs_a_person(r.detail) for r in result.databases if r.detail is not None)
    return result.exit_code or (1 if attention else 0)


async def cmd_history(args: argparse.Namespace) -> int:
    """Show every selected database's migration history."""

    async def call(fleet: Fleet, view: FleetLines, stop: StopRequest) -> FleetResult:
        return await history_many(fleet, selection(args), limit=args.limit, version=args.version,
                                  jobs=args.jobs, progress=view, announce=announcer(args))  # fmt: skip

    def render(result: FleetResult, as_json: bool) -> None:
        render_history(result, as_json, args.limit)

    return (await run_fleet(args, call, stops=False, render=render)).exit_code


async def cmd_check(args: argparse.Namespace) -> int:
    """Run the CI gate on every selected database; exit 1 when one fails it."""
    if args.lockfile is not None:
        raise ConfigurationError("--lockfile compares the code with a file, not with databases", hint="leave out --db")
    migrations = load_list(args)

    async def call(fleet: Fleet, view: FleetLines, stop: StopRequest) -> FleetResult:
        return await check_many(fleet, selection(args), migrations, fail_on_pending=args.fail_on_pending,
                                jobs=args.jobs, progress=view, announce=announcer(args))  # fmt: skip

    return (await run_fleet(args, call, stops=False, render=render_check)).exit_code


async def cmd_stamp(args: argparse.Namespace) -> int:
    """Record a version on every selected database without running any step."""
    migrations = load_list(args)
    extra = {"rerun_ok": True} if getattr(args, "yes", False) else {}  # stamp --yes, where the verb has it

    async def call(fleet: Fleet, view: FleetLines, stop: StopRequest) -> FleetResult:
        return await stamp_many(fleet, selection(args), migrations, args.version, options=run_options(args),
                                jobs=args.jobs, keep_going=args.keep_going, stop=stop, progress=view,
                                announce=announcer(args), **extra)  # fmt: skip

    return (await run_fleet(args, call)).exit_code


def _files_handler(name: str) -> Handler:
    async def handler(args: argparse.Namespace) -> int:
        files = importlib.import_module("analytiq_data.cli.fleet_files_cmds")  # the backup engine only for these
        return int(await getattr(files, name)(args))

    return handler


HANDLERS: dict[str, Handler] = {
    "status": cmd_status,
    "up": cmd_up,
    "down": cmd_down,
    "history": cmd_history,
    "check": cmd_check,
    "stamp": cmd_stamp,
    "backup": _files_handler("cmd_backup"),
    "restore": _files_handler("cmd_restore"),
    "rehearse": _files_handler("cmd_rehearse"),
}

