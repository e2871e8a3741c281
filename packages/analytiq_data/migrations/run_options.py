"""The options of a run as the Python verbs take them (``run_migrations``, ``up``, ``down`` and
``run_migrations_many``): the lock's wait and lease, hooks, a step time limit, and the backup made
first (``analytiq_data.safety``, imported only when asked for)."""

from __future__ import annotations

from analytiq_data.errors import ConfigurationError
from analytiq_data.migrations.engine.hooks import RunHooks
from analytiq_data.migrations.engine.options import RunOptions
from analytiq_data.migrations.engine.prestep import PreStepHook
from analytiq_data.migrations.engine.target import Target


def run_options(
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
    """Return the run's options as the Python verbs take them (None: the engine's defaults); with
    ``backup``, a verified backup of ``target`` before the first step (with ``backup_log`` and a
    follower running there: a restore point in its log instead). ``backup_uri``, ``backup_db`` or
    ``backup_log`` without ``backup``: ConfigurationError."""
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
