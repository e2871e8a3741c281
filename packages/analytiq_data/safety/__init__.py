"""Safety nets around migrations: rehearse them on a scratch copy, back up before migrating, restore a backup.

    from analytiq_data.safety import rehearse, restore, RestoreOptions

    result = await rehearse(analytiq_client)             # pending migrations on a scratch copy
    result.raise_for_failure()                           # CheckFailed if a check failed
    await restore(RestoreOptions(uri=..., db="prod", backup="prod_backup_v3_20240601120000"))
    await restore_to_moment(LogRestoreOptions(uri=..., db="prod", log_dir="/backups/log", at="2024-06-01T12:00Z"))

``up --backup`` (``run_migrations(..., backup=True)``) uses ``BackupFirst``, a pre-step hook of the
migration runner. Rooms: ``rehearse`` (the checks), ``snapshot`` (state copies and comparison),
``docdiff`` (raw document comparison), ``sample_copy`` (``--sample``), ``backup_first``; restoring:
``restore`` (from a backup database) and ``restore_files`` (from a dump) hand a loader to
``restore_run`` (the steps), which uses ``restore_lock`` (the lease, in ``<db>__restore``),
``staging`` (the load inside the target, the mark), ``history_carry``, ``swap``, ``activity``
(other clients' writes) and ``restore_guard`` (refusals, what a stopped restore says);
``restore_check`` is ``restore --check``; ``results``.
"""

from analytiq_data.safety.backup_first import BackupFirst, backup_name
from analytiq_data.safety.rehearse import rehearse
from analytiq_data.safety.restore import BackupInfo, RestoreOptions, inspect_backup, restore
from analytiq_data.safety.restore_files import FileRestoreOptions, restore_files
from analytiq_data.safety.restore_log import LogRestoreOptions, LogRestoreResult, restore_to_moment
from analytiq_data.safety.results import Check, MigrationRehearsal, RehearsalResult, RestoreResult
from analytiq_data.safety.snapshot import Comparison, Difference, compare

__all__ = [
    "BackupFirst",
    "BackupInfo",
    "Check",
    "Comparison",
    "Difference",
    "FileRestoreOptions",
    "LogRestoreOptions",
    "LogRestoreResult",
    "MigrationRehearsal",
    "RehearsalResult",
    "RestoreOptions",
    "RestoreResult",
    "backup_name",
    "compare",
    "inspect_backup",
    "rehearse",
    "restore",
    "restore_files",
    "restore_to_moment",
]
