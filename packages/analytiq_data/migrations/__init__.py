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
(``run_options``; ``analytiq_data.safety``, imported only when asked for). The engine knows nothing
of Analytiq. The CI gate's ``check``, ``check_lockfile`` and ``write_lockfile`` are
``analytiq_data.guard``'s, offered here too (the guard depends on this package, not the reverse).
``run_migrations_many`` and ``status_many`` (``many``) run the same verbs over many databases
(``analytiq_data.fleet``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from analytiq_data.migrations.base import Migration
from analytiq_data.migrations.engine import verbs
from analytiq_data.migrations.engine.hooks import HookFailedError, RunHooks, RunInfo
from analytiq_data.migrations.engine.loader import load_migrations
from analytiq_data.migrations.engine.lock import LockInfo
from analytiq_data.migrations.engine.options import RunOptions, StopRequest
from analytiq_data.migrations.engine.plan import MigrationList
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
from analytiq_data.migrations.many import run_migrations_many, status_many
from analytiq_data.migrations.run_options import run_options
from analytiq_data.migrations.startup import (
    DEFAULT_MIGRATIONS,
    configured_list,
    configured_spec,
    get_current_version,
    schema_migrations_pending,
)
from analytiq_data.progress import Progress

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
    options = run_options(
        target, lock_wait_s=lock_wait_s, lease_s=lease_s, hooks=hooks, step_time_limit_s=step_time_limit_s,
        backup=backup, backup_uri=backup_uri, backup_db=backup_db, backup_log=backup_log,
    )  # fmt: skip
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
    options = run_options(
        target, lock_wait_s=lock_wait_s, lease_s=lease_s, hooks=hooks, step_time_limit_s=step_time_limit_s,
        dry_run=dry_run, backup=backup, backup_uri=backup_uri, backup_db=backup_db, backup_log=backup_log,
    )  # fmt: skip
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
    options = run_options(
        target, lock_wait_s=lock_wait_s, lease_s=lease_s, hooks=hooks, step_time_limit_s=step_time_limit_s,
        dry_run=dry_run,
    )  # fmt: skip
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
