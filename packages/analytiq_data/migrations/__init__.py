"""Versioned, reversible migrations: the public face.

As the guide uses it::

    import analytiq_data as ad

    await ad.migrations.run_migrations(analytiq_client)                    # up to the newest
    await ad.migrations.run_migrations(analytiq_client, target_version=1)  # up or down to 1

The verbs are ``analytiq_data.migrations.engine.verbs``, the one module the command line calls
too: each takes one target (``Target``, or the application's client object) and a migration list
validated once. The functions here only add the defaults: the list when ``migrations=`` is not
given (the one the command line uses: ``$ANALYTIQ_DB_MIGRATIONS``, else ``[tool.analytiq-db]
migrations`` in pyproject.toml; Analytiq's ``analytiq_data.migrations.migration.MIGRATIONS`` where
nothing is configured; see ``startup.configured_list``) and the verified backup of ``backup=True``
(``analytiq_data.safety``, imported only when asked for). The engine knows nothing of Analytiq. The
CI gate's ``check``, ``check_lockfile`` and ``write_lockfile`` are ``analytiq_data.guard``'s, offered
here too (the guard depends on this package, not the reverse). ``run_migrations_many`` and
``status_many`` run the same verbs over many databases (``analytiq_data.fleet``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Literal

from analytiq_data.errors import ConfigurationError
from analytiq_data.migrations.base import Migration
from analytiq_data.migrations.engine import verbs
from analytiq_data.migrations.engine.hooks import HookFailedError, RunHooks, RunInfo
from analytiq_data.migrations.engine.loader import load_migrations
from analytiq_data.migrations.engine.lock import LockInfo
from analytiq_data.migrations.engine.options import RunOptions, StopRequest
from analytiq_data.migrations.engine.plan import MigrationList
from analytiq_data.migrations.engine.prestep import PreStepHook
from analytiq_data.migrations.engine.results import (
    HistoryResult,
    Mismatch,
    NewResult,
    ResolveResult,
    RunInterrupted,
    RunResult,
    StampResult,
    StatusResult,
    StepFailedError,
    StepResult,
    StepStatus,
    UnlockResult,
)
from analytiq_data.migrations.engine.scaffold import new as _new
from analytiq_data.migrations.engine.state import HistoryRecord
from analytiq_data.migrations.engine.target import Target
from analytiq_data.migrations.engine.verbs import AnyTarget, history, unlock
from analytiq_data.migrations.startup import (
    DEFAULT_MIGRATIONS,
    configured_list,
    configured_spec,
    get_current_version,
    schema_migrations_pending,
)
from analytiq_data.progress import Progress

if TYPE_CHECKING:
    from analytiq_data.fleet.progress import FleetProgress
    from analytiq_data.fleet.results import FleetResult

__all__ = [
    "DEFAULT_MIGRATIONS",
    "MIGRATIONS",
    "CheckResult",
    "Finding",
    "HistoryRecord",
    "HistoryResult",
    "HookFailedError",
    "LockInfo",
    "LockResult",
    "Migration",
    "MigrationList",
    "Mismatch",
    "NewResult",
    "ResolveResult",
    "RunHooks",
    "RunInfo",
    "RunInterrupted",
    "RunOptions",
    "RunResult",
    "StampResult",
    "StatusResult",
    "StepFailedError",
    "StepResult",
    "StepStatus",
    "StopRequest",
    "Target",
    "UnlockResult",
    "check",
    "check_lockfile",
    "configured_list",
    "down",
    "get_current_version",
    "history",
    "load_migrations",
    "new",
    "resolve",
    "run_migrations",
    "run_migrations_many",
    "schema_migrations_pending",
    "stamp",
    "status",
    "status_many",
    "unlock",
    "up",
    "write_lockfile",
]

_FROM_GUARD = frozenset({"CheckResult", "Finding", "LockResult", "check", "check_lockfile", "write_lockfile"})


def __getattr__(name: str) -> Any:
    """Return Analytiq's ``MIGRATIONS`` (imported and checked on first use) or one of the guard's names."""
    if name == "MIGRATIONS":
        from analytiq_data.migrations import migration

        load_migrations(DEFAULT_MIGRATIONS)  # checks stated versions equal positions
        return migration.MIGRATIONS
    if name in _FROM_GUARD:
        from analytiq_data import guard  # on first use: the guard imports this package, not the reverse

        return getattr(guard, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _list(migrations: Sequence[Migration] | None) -> MigrationList:
    """Return ``migrations`` validated (once), or the configured list (Analytiq's where none is configured)."""
    return configured_list(migrations)


def _options(
    target: Target,
    *,
    lock_wait_s: float | None,
    lease_s: float | None,
    dry_run: bool = False,
    hooks: RunHooks | None = None,
    backup: bool = False,
    backup_uri: str | None = None,
    backup_db: str | None = None,
    step_time_limit_s: float | None = None,
    backup_log: str | None = None,
) -> RunOptions:
    """Return the run's options; with ``backup``, a verified backup of ``target`` before the first step
    (with ``backup_log`` and a follower running there: a restore point in its log instead)."""
    before_steps: PreStepHook | None = None
    if backup:
        from analytiq_data.safety.backup_first import BackupFirst  # the backup engine only when asked for

        before_steps = BackupFirst.for_target(target, backup_uri=backup_uri, backup_db=backup_db)
        if backup_log is not None:
            from analytiq_data.safety.log_point import LogPointFirst

            before_steps = LogPointFirst(backup_log, before_steps)
    elif backup_uri is not None or backup_db is not None or backup_log is not None:
        raise ConfigurationError("backup_uri/backup_db/backup_log need backup=True", hint="pass backup=True")
    return RunOptions.of(
        lock_wait_s=lock_wait_s,
        lease_s=lease_s,
        dry_run=dry_run,
        hooks=hooks,
        before_steps=before_steps,
        step_time_limit_s=step_time_limit_s,
    )


async def run_migrations(
    analytiq_client: AnyTarget,
    target_version: int | None = None,
    *,
    migrations: Sequence[Migration] | None = None,
    lock_wait_s: float | None = None,
    lease_s: float | None = None,
    progress: Progress | None = None,
    backup: bool = False,
    backup_uri: str | None = None,
    backup_db: str | None = None,
    backup_log: str | None = None,
    hooks: RunHooks | None = None,
    step_time_limit_s: float | None = None,
) -> RunResult:
    """Bring the database ``analytiq_client.env`` to ``target_version`` (default: the newest), up or down.

    Safe to call from every instance at start-up: one runner migrates, the others wait up to
    ``lock_wait_s`` for the lock, then read the version under it (nothing left to do, or what a
    run that ended meanwhile undid). A database newer than the code is left alone with a warning.
    Raises StepFailedError, LockError, HookFailedError or MigrationError with one line.

    ``hooks`` (RunHooks) are the application's housekeeping, awaited under the lock before the
    first step and after the last, on every run, also when nothing is pending.

    With ``backup=True``, when steps are pending, the runner holding the lock first makes a
    verified copy (``backup_db``, default ``<db>_backup_v<version>_<UTC time>``, on ``backup_uri``,
    default the same server); its name is in the history. If it does not verify, VerificationError
    is raised and nothing is migrated. With ``backup_log=DIR`` too and ``analytiq-db follow`` running
    into DIR on this database, no copy is made: once the follower has logged everything up to now,
    that moment is recorded in the history as the restore point (``restore --from-log DIR --at``).


    ``step_time_limit_s``: seconds a step whose class sets no ``time_limit_s`` may run (default: no
    limit); past it the step is cancelled and fails like any failed step.
    """
    target = Target.of(analytiq_client)
    options = _options(
        target,
        lock_wait_s=lock_wait_s,
        lease_s=lease_s,
        hooks=hooks,
        backup=backup,
        backup_uri=backup_uri,
        backup_db=backup_db,
        step_time_limit_s=step_time_limit_s,
        backup_log=backup_log,
    )
    return await verbs.migrate(target, _list(migrations), target_version, options=options, progress=progress)


async def status(analytiq_client: AnyTarget, *, migrations: Sequence[Migration] | None = None) -> StatusResult:
    """Return applied and pending steps and anything needing attention (reordered list, changed code, …)."""
    return await verbs.status(analytiq_client, _list(migrations))


async def up(
    analytiq_client: AnyTarget,
    to: int | None = None,
    *,
    migrations: Sequence[Migration] | None = None,
    lock_wait_s: float | None = None,
    lease_s: float | None = None,
    dry_run: bool = False,
    progress: Progress | None = None,
    stop: StopRequest | None = None,
    backup: bool = False,
    backup_uri: str | None = None,
    backup_db: str | None = None,
    backup_log: str | None = None,
    hooks: RunHooks | None = None,
    step_time_limit_s: float | None = None,
) -> RunResult:
    """Apply pending migrations up to ``to`` (default: the newest); ``backup``, ``backup_log``, ``hooks``,
    ``step_time_limit_s`` as in run_migrations."""
    target = Target.of(analytiq_client)
    options = _options(
        target,
        lock_wait_s=lock_wait_s,
        lease_s=lease_s,
        dry_run=dry_run,
        hooks=hooks,
        backup=backup,
        backup_uri=backup_uri,
        backup_db=backup_db,
        step_time_limit_s=step_time_limit_s,
        backup_log=backup_log,
    )
    return await verbs.up(target, _list(migrations), to, options=options, progress=progress, stop=stop)


async def down(
    analytiq_client: AnyTarget,
    to: int | None = None,
    steps: int | None = None,
    *,
    migrations: Sequence[Migration] | None = None,
    lock_wait_s: float | None = None,
    lease_s: float | None = None,
    dry_run: bool = False,
    progress: Progress | None = None,
    stop: StopRequest | None = None,
    hooks: RunHooks | None = None,
    step_time_limit_s: float | None = None,
) -> RunResult:
    """Revert migrations down to version ``to`` or by ``steps`` (default: one step); ``hooks``,
    ``step_time_limit_s`` as in run_migrations."""
    target = Target.of(analytiq_client)
    options = _options(
        target,
        lock_wait_s=lock_wait_s,
        lease_s=lease_s,
        dry_run=dry_run,
        hooks=hooks,
        step_time_limit_s=step_time_limit_s,
    )
    return await verbs.down(target, _list(migrations), to, steps, options=options, progress=progress, stop=stop)


async def stamp(
    analytiq_client: AnyTarget,
    version: int,
    *,
    migrations: Sequence[Migration] | None = None,
    lock_wait_s: float | None = None,
    rerun_ok: bool = False,
) -> StampResult:
    """Record ``version`` without running any step; below the current version only with ``rerun_ok``
    (the applied steps above it are recorded as not applied: the next run runs them again)."""
    options = RunOptions.of(lock_wait_s=lock_wait_s)
    return await verbs.stamp(analytiq_client, _list(migrations), version, options=options, rerun_ok=rerun_ok)


async def resolve(
    analytiq_client: AnyTarget,
    mark: Literal["applied", "reverted"],
    version: int | None = None,
    *,
    migrations: Sequence[Migration] | None = None,
    lock_wait_s: float | None = None,
) -> ResolveResult:
    """Record whether a dirty step's change is in the data, so runs may continue."""
    options = RunOptions.of(lock_wait_s=lock_wait_s)
    return await verbs.resolve(analytiq_client, _list(migrations), mark, version, options=options)


def new(description: str, *, migrations: str | None = None) -> NewResult:
    """Write a runnable migration class for ``description`` into the migrations module (``module:ATTRIBUTE``,
    default: the configured list's) and register it."""
    return _new(configured_spec() if migrations is None else migrations, description)


Databases = Sequence[str] | str | Callable[..., Any] | None


def _selection(databases: Databases, exclude: Sequence[str]) -> Any:
    """Return the fleet Selection of ``databases``: names and globs, ``module:ATTRIBUTE``, a list or function
    of the application's, or (None) the configured ``ANALYTIQ_DB_DATABASES`` / ``[tool.analytiq-db] databases``."""
    from analytiq_data.fleet.select import Selection
    from analytiq_data.settings import Flags, resolve

    if databases is None:
        settings = resolve(Flags(), fields={"db"})
        if settings.databases is None:
            raise ConfigurationError(
                "no databases given", hint="pass databases=[...] or set [tool.analytiq-db] databases"
            )
        return Selection(settings.databases, tuple(exclude), settings.source("databases"))
    if isinstance(databases, str):
        return Selection((databases,), tuple(exclude), "databases=")
    if callable(databases):
        return Selection((), tuple(exclude), "databases=", source=databases)
    return Selection(tuple(databases), tuple(exclude), "databases=")


async def run_migrations_many(
    client: Any,
    target_version: int | None = None,
    *,
    databases: Databases = None,
    exclude: Sequence[str] = (),
    jobs: int | None = None,
    keep_going: bool = False,
    migrations: Sequence[Migration] | None = None,
    lock_wait_s: float | None = None,
    lease_s: float | None = None,
    progress: FleetProgress | Progress | None = None,
    stop: StopRequest | None = None,
    backup: bool = False,
    backup_uri: str | None = None,
    hooks: RunHooks | None = None,
) -> FleetResult:
    """Bring every database of ``databases`` to ``target_version`` (default: the newest), ``jobs`` at once.

    ``client`` is the application's client object (``AnalytiqClient``: its URI names the server in
    messages, and ``backup=True`` needs it) or an async client (PyMongo's or motor's). ``databases``:
    names and globs (``"tenant_*"``; ``"*"`` for all but admin, local, config and this tool's
    backups), ``"module:ATTRIBUTE"``, a list, or a function (sync or async) given the client and
    returning the names; None reads ``ANALYTIQ_DB_DATABASES`` / ``[tool.analytiq-db] databases``.
    ``exclude`` globs leave some out. ``jobs`` defaults to the server's cores (2 to 8).

    Each database is run exactly as ``run_migrations`` runs one: its own lock (a database another
    instance is migrating is waited for, up to ``lock_wait_s``), state and history; so every
    instance of an app may call this at start-up. After the first failure no new database starts
    (``keep_going``: all are tried). Returns ``analytiq_data.fleet.FleetResult``: a record per
    database (``result.raise_for_failure()`` raises FleetFailed unless all ended well). Selection
    errors (nothing matches: ConfigurationError) and an unreachable server raise before any database
    is touched. ``progress`` is a ``fleet.FleetProgress`` or a plain Progress (a task per database).
    """
    from analytiq_data.fleet.migrate import migrate_many
    from analytiq_data.fleet.progress import as_fleet_progress
    from analytiq_data.fleet.run import Fleet

    fleet = Fleet.of(client)
    base = RunOptions.of(lock_wait_s=lock_wait_s, lease_s=lease_s, hooks=hooks)
    per_database = None
    if backup:
        def per_database(target: Target) -> RunOptions:
            return _options(target, lock_wait_s=lock_wait_s, lease_s=lease_s, hooks=hooks, backup=True,
                            backup_uri=backup_uri)  # fmt: skip

    return await migrate_many(
        fleet, _selection(databases, exclude), _list(migrations), "migrate", to=target_version, options=base,
        per_database=per_database, jobs=jobs, keep_going=keep_going, stop=stop, progress=as_fleet_progress(progress),
    )  # fmt: skip


async def status_many(
    client: Any,
    *,
    databases: Databases = None,
    exclude: Sequence[str] = (),
    jobs: int | None = None,
    migrations: Sequence[Migration] | None = None,
) -> FleetResult:
    """Return where every database of ``databases`` stands (``databases`` as in run_migrations_many): a
    FleetResult whose records carry each database's StatusResult in ``detail``. Reads only."""
    from analytiq_data.fleet.migrate import status_many as _status_many
    from analytiq_data.fleet.run import Fleet

    return await _status_many(Fleet.of(client), _selection(databases, exclude), _list(migrations), jobs=jobs)
