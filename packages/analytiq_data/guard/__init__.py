"""The CI gate: does the code agree with a database, or with a committed lockfile?

::

    from analytiq_data import guard

    result = await guard.check(analytiq_client)                  # code vs database (reads only)
    guard.write_lockfile("migrations.lock.json")                 # record versions, classes, checksums
    result = guard.check_lockfile("migrations.lock.json")        # code vs lockfile (no database)
    result.raise_for_failure()                                   # CheckFailed if anything needs a person

Every function takes an optional ``migrations=`` list (default: Analytiq's). The comparisons are
the migration engine's; this package only turns them into findings and a verdict.
"""

from analytiq_data.guard.check import check, database_findings
from analytiq_data.guard.lockfile import (
    DEFAULT_LOCKFILE,
    FORMAT_VERSION,
    check_lockfile,
    lock_entries,
    read_lockfile,
    render_lockfile,
    write_lockfile,
)
from analytiq_data.guard.results import CheckResult, Finding, FindingKind, LockEntry, LockResult

__all__ = [
    "DEFAULT_LOCKFILE",
    "FORMAT_VERSION",
    "CheckResult",
    "Finding",
    "FindingKind",
    "LockEntry",
    "LockResult",
    "check",
    "check_lockfile",
    "database_findings",
    "lock_entries",
    "read_lockfile",
    "render_lockfile",
    "write_lockfile",
]
