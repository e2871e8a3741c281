"""``check``: a gate for CI that fails when the code and a database disagree in a way that needs a person.

It reads what the engine's ``status`` reads (the version document, the history, the lock) and
turns it into findings, one per version:

- failing: a version applied as another class (list reordered, class inserted); an applied
  version whose code changed; a version the database applied that the code does not have (the
  database is newer); a dirty step (``idempotent = False``, failed or interrupted outside a
  transaction);
- pending steps: reported, failing only with ``fail_on_pending``;
- notes: versions applied without a history record (their class and code cannot be checked), a
  migration run in progress.

Nothing is written to the database.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from analytiq_data.guard.results import CheckResult, Finding
from analytiq_data.guard.source import migration_list
from analytiq_data.migrations.base import Migration
from analytiq_data.migrations.engine import checks, verbs
from analytiq_data.migrations.engine.lock import format_time
from analytiq_data.migrations.engine.plan import database_ahead_error
from analytiq_data.migrations.engine.results import StatusResult
from analytiq_data.migrations.engine.state import HistoryRecord


async def check(
    analytiq_client: verbs.AnyTarget,
    *,
    migrations: Sequence[Migration] | None = None,
    fail_on_pending: bool = False,
) -> CheckResult:
    """Compare the migration list with the database ``analytiq_client.env`` and return the findings.

    ``migrations`` defaults to the configured list (Analytiq's where none is configured).
    Disagreements are findings (``result.ok`` is False; ``result.raise_for_failure()`` raises
    CheckFailed); a server that cannot be reached raises DatabaseConnectionError. Reads only.
    """
    checked = migration_list(migrations)
    status = await verbs.status(analytiq_client, checked)
    beyond: dict[int, str] = {}
    if status.database_ahead:
        records = await verbs.applied_records(analytiq_client, status.current)
        beyond = {v: rec.name for v, rec in records.items() if v > status.head}
    return CheckResult(
        source="database",
        target=status.database,
        version=status.current,
        head=status.head,
        findings=tuple(database_findings(status, beyond, fail_on_pending=fail_on_pending)),
        fail_on_pending=fail_on_pending,
    )


def database_findings(
    status: StatusResult, beyond: Mapping[int, str], *, fail_on_pending: bool = False
) -> list[Finding]:
    """Return the findings of a status, ordered by version; ``beyond`` names the classes the history
    recorded for versions newer than the code."""
    findings: list[Finding] = []
    if status.mismatches:
        action = checks.mismatch_error(status.mismatches).hint or ""
        findings += [
            Finding(
                "class_mismatch",
                mm.version,
                mm.current,
                f"the database applied {mm.recorded} at this version, the code has {mm.current}",
                action,
                failing=True,
            )
            for mm in status.mismatches
        ]
    for version in status.changed:
        findings.append(
            Finding(
                "code_changed",
                version,
                status.steps[version - 1].name,
                "code changed since it was applied",
                "revert the edit and put the change in a new migration; if the data already matches the new "
                f"code, record that with analytiq-db stamp {status.current}",
                failing=True,
            )
        )
    if status.database_ahead:
        action = database_ahead_error(status.current, status.head).hint or ""
        for version in range(status.head + 1, status.current + 1):
            name = beyond.get(version, "")
            what = "applied to the database" if name else "applied to the database (no history record names it)"
            findings.append(Finding("database_ahead", version, name, f"{what} but not in this code", action, True))
    if status.dirty is not None:
        findings.append(_dirty(status.dirty))
    findings += _unchecked_and_pending(status, fail_on_pending)
    if status.lock is not None and status.lock.live:
        findings.append(
            Finding(
                "running",
                status.current,
                "",
                f"a migration run holds the lock ({status.lock.describe()})",
                "run check again when it has finished",
                failing=False,
            )
        )
    return sorted(findings, key=lambda f: f.version)


def _dirty(record: HistoryRecord) -> Finding:
    what = "failed" if record.outcome == "failed" else "was interrupted"
    when = f" at {format_time(record.started_at)}" if record.started_at else ""
    return Finding(
        "dirty",
        record.version,
        record.name,
        f"the database is dirty: this step (idempotent = False) {what} going {record.direction} outside a "
        f"transaction{when}",
        checks.dirty_error(record).hint or "",
        failing=True,
    )


def _unchecked_and_pending(status: StatusResult, fail_on_pending: bool) -> list[Finding]:
    findings: list[Finding] = []
    for step in status.steps:
        if step.applied and step.recorded_name is None:
            findings.append(
                Finding(
                    "unverified",
                    step.version,
                    step.name,
                    "applied without a history record (by the original runner?): its class and code cannot be checked",
                    f"once its data is checked, record the list as applied with analytiq-db stamp {status.current}",
                    failing=False,
                )
            )
        elif not step.applied:
            findings.append(
                Finding(
                    "pending",
                    step.version,
                    step.name,
                    "not applied yet",
                    "run analytiq-db up (or run_migrations at start-up)",
                    failing=fail_on_pending,
                )
            )
    return findings
