"""Versioned, reversible migrations: the public face.

As the guide uses it::

    import analytiq_data as ad

    await ad.migrations.run_migrations(analytiq_client)                    # up to the newest
    await ad.migrations.run_migrations(analytiq_client, target_version=1)  # up or down to 1

Every verb takes an optional ``migrations=`` list; the default is Analytiq's,
``analytiq_data.migrations.migration.MIGRATIONS`` (imported when first needed). The engine under
``analytiq_data.migrations.engine`` knows nothing of Analytiq.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any, Literal

from analytiq_data.errors import ConfigurationError
from analytiq_data.guard import CheckResult, Finding, LockResult, check, check_lockfile, write_lockfile
from analytiq_data.migrations.base import Migration
from analytiq_data.migrations.engine import commands as _commands
from analytiq_data.migrations.engine.hooks import HookFailedError, RunHooks, RunInfo
from analytiq_data.migrations.engine.loader import load_migrations
from analytiq_data.migrations.engine.lock import DEFAULT_LEASE_S, DEFAULT_LOCK_WAIT_S, LockInfo
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
from analytiq_data.migrations.engine.runner import RunOptions, StopRequest
from analytiq_data.migrations.engine.scaffold import new as _new
from analytiq_data.migrations.engine.state import HistoryRecord
from analytiq_data.migrations.startup import DEFAULT_MIGRATIONS, get_current_version, schema_migrations_pending
from analytiq_data.progress import Progress
from analytiq_data.settings import DEFAULT_TIMEOUT_S

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
    "UnlockResult",
    "check",
    "check_lockfile",
    "down",
    "get_current_version",
    "history",
    "load_migrations",
    "new",
    "resolve",
    "run_migrations",
    "schema_migrations_pending",
    "stamp",
    "status",
    "unlock",
    "up",
    "write_lockfile",
]


def __getattr__(name: str) -> Any:
    """Import Analytiq's ``MIGRATIONS`` on first use (checked: stated versions equal positions)."""
    if name == "MIGRATIONS":
        from analytiq_data.migrations import migration

        load_migrations(DEFAULT_MIGRATIONS)
        return migration.MIGRATIONS
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _list(migrations: Sequence[Migration] | None) -> Sequence[Migration]:
    return load_migrations(DEFAULT_MIGRATIONS) if migrations is None else migrations


def _options(
    lock_wait_s: float | None, lease_s: float | None, dry_run: bool = False, hooks: RunHooks | None = None
) -> RunOptions:
    return RunOptions(
        lock_wait_s=DEFAULT_LOCK_WAIT_S if lock_wait_s is None else lock_wait_s,
        lease_s=DEFAULT_LEASE_S if lease_s is None else lease_s,
        dry_run=dry_run,
        hooks=hooks,
    )


def _backing_up(
    options: RunOptions, analytiq_client: Any, backup: bool, backup_uri: str | None, backup_db: str | None
) -> RunOptions:
    """Return ``options`` with a verified backup before the first step, when ``backup`` is set."""
    if not backup:
        if backup_uri is not None or backup_db is not None:
            raise ConfigurationError("backup_uri/backup_db need backup=True", hint="pass backup=True")
        return options
    from analytiq_data.safety.backup_first import BackupFirst  # the backup engine only when asked for

    uri = getattr(analytiq_client, "uri", None)
    if not uri:
        raise ConfigurationError("backup=True needs the client's URI", hint="pass an AnalytiqClient")
    hook = BackupFirst(
        uri,
        backup_uri=backup_uri,
        backup_db=backup_db,
        timeout_s=float(getattr(analytiq_client, "timeout_s", DEFAULT_TIMEOUT_S)),
    )
    return dataclasses.replace(options, before_steps=hook)


async def run_migrations(
    analytiq_client: Any,
    target_version: int | None = None,
    *,
    migrations: Sequence[Migration] | None = None,
    lock_wait_s: float | None = None,
    lease_s: float | None = None,
    progress: Progress | None = None,
    backup: bool = False,
    backup_uri: str | None = None,
    backup_db: str | None = None,
    hooks: RunHooks | None = None,
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
    is raised and nothing is migrated.
    """
    options = _backing_up(_options(lock_wait_s, lease_s, hooks=hooks), analytiq_client, backup, backup_uri, backup_db)
    return await _commands.migrate(
        analytiq_client, _list(migrations), target_version, options=options, progress=progress
    )


async def status(analytiq_client: Any, *, migrations: Sequence[Migration] | None = None) -> StatusResult:
    """Return applied and pending steps and anything needing attention (reordered list, changed code, …)."""
    return await _commands.status(analytiq_client, _list(migrations))


async def up(
    analytiq_client: Any,
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
    hooks: RunHooks | None = None,
) -> RunResult:
    """Apply pending migrations up to ``to`` (default: the newest); ``backup=True``, ``hooks`` as in run_migrations."""
    options = _backing_up(
        _options(lock_wait_s, lease_s, dry_run, hooks), analytiq_client, backup, backup_uri, backup_db
    )
    return await _commands.up(analytiq_client, _list(migrations), to, options=options, progress=progress, stop=stop)


async def down(
    analytiq_client: Any,
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
) -> RunResult:
    """Revert migrations down to version ``to`` or by ``steps`` (default: one step); ``hooks`` as in run_migrations."""
    options = _options(lock_wait_s, lease_s, dry_run, hooks)
    return await _commands.down(
        analytiq_client, _list(migrations), to, steps, options=options, progress=progress, stop=stop
    )


async def history(analytiq_client: Any, *, limit: int = 0, version: int | None = None) -> HistoryResult:
    """Return the migration history, newest first."""
    return await _commands.history(analytiq_client, limit=limit, version=version)


async def stamp(
    analytiq_client: Any,
    version: int,
    *,
    migrations: Sequence[Migration] | None = None,
    lock_wait_s: float | None = None,
) -> StampResult:
    """Record ``version`` without running any step."""
    return await _commands.stamp(analytiq_client, _list(migrations), version, options=_options(lock_wait_s, None))


async def unlock(analytiq_client: Any, *, force: bool = False) -> UnlockResult:
    """Clear a stale migration lock (a live one only with ``force``)."""
    return await _commands.unlock(analytiq_client, force=force)


async def resolve(
    analytiq_client: Any,
    mark: Literal["applied", "reverted"],
    version: int | None = None,
    *,
    migrations: Sequence[Migration] | None = None,
    lock_wait_s: float | None = None,
) -> ResolveResult:
    """Record whether a dirty step's change is in the data, so runs may continue."""
    return await _commands.resolve(
        analytiq_client, _list(migrations), mark, version, options=_options(lock_wait_s, None)
    )


def new(description: str, *, migrations: str = DEFAULT_MIGRATIONS) -> NewResult:
    """Write a runnable migration class for ``description`` into the migrations module and register it."""
    return _new(migrations, description)
