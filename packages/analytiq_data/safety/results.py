"""Typed results of ``rehearse`` and ``restore``; the command line renders them as tables or JSON."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from analytiq_data.errors import CheckFailed
from analytiq_data.safety.snapshot import Difference

CHECKS = ("up", "idempotent", "down restores", "up again")
PASSED, FAILED, SKIPPED, NOT_RUN = "passed", "failed", "skipped", "not run"


@dataclass(frozen=True)
class Check:
    """One check of one migration: passed, failed (``reason`` says how), skipped (``reason`` says why) or not run."""

    name: str
    status: str
    reason: str | None = None
    seconds: float | None = None

    def cell(self) -> str:
        """Return the table cell: ``passed``, ``FAILED``, ``skipped: declared irreversible``, ``not run``."""
        if self.status == FAILED:
            return "FAILED"
        if self.status == SKIPPED and self.reason:
            return f"skipped: {self.reason}"
        return self.status

    def to_json(self) -> dict[str, Any]:
        """Return the check as plain data."""
        return {"status": self.status, "reason": self.reason, "seconds": self.seconds}


@dataclass(frozen=True)
class MigrationRehearsal:
    """What rehearsing one migration found: its checks, documents its ``up`` touched, time, first difference."""

    version: int
    name: str
    description: str
    checks: tuple[Check, ...]
    touched: int | None = None  # documents the first up changed, added or removed
    seconds: float = 0.0
    diff: Difference | None = None

    @property
    def failed(self) -> Check | None:
        """Return the failed check, if any."""
        return next((c for c in self.checks if c.status == FAILED), None)

    @property
    def passed(self) -> bool:
        """Return whether every check that ran passed and none failed."""
        return self.failed is None and all(c.status in (PASSED, SKIPPED) for c in self.checks)

    def check(self, name: str) -> Check:
        """Return the check named ``name`` (one of CHECKS)."""
        return next(c for c in self.checks if c.name == name)

    def label(self) -> str:
        """Return ``version 3 (AddFooMigration)``."""
        return f"version {self.version} ({self.name})"

    def to_json(self) -> dict[str, Any]:
        """Return the rehearsal of this migration as plain data."""
        return {
            "version": self.version,
            "name": self.name,
            "description": self.description,
            "passed": self.passed,
            "touched": self.touched,
            "seconds": round(self.seconds, 3),
            "checks": {c.name: c.to_json() for c in self.checks},
            "diff": self.diff.to_json() if self.diff else None,
        }


@dataclass(frozen=True)
class RehearsalResult:
    """A whole rehearsal: where it ran, what it copied, and one row per pending migration."""

    database: str
    scratch: str | None
    kept: bool
    from_version: int
    to_version: int
    sample: int | None
    documents_copied: int
    migrations: tuple[MigrationRehearsal, ...] = ()
    seconds: float = 0.0
    notes: tuple[str, ...] = field(default=())

    @property
    def passed(self) -> bool:
        """Return whether every rehearsed migration passed."""
        return all(m.passed for m in self.migrations)

    @property
    def failures(self) -> tuple[MigrationRehearsal, ...]:
        """Return the migrations with a failed check."""
        return tuple(m for m in self.migrations if m.failed is not None)

    def to_json(self) -> dict[str, Any]:
        """Return the rehearsal as plain data."""
        return {
            "database": self.database,
            "scratch": self.scratch,
            "kept": self.kept,
            "from_version": self.from_version,
            "to_version": self.to_version,
            "sample": self.sample,
            "documents_copied": self.documents_copied,
            "passed": self.passed,
            "seconds": round(self.seconds, 3),
            "migrations": [m.to_json() for m in self.migrations],
            "notes": list(self.notes),
        }

    def raise_for_failure(self, *, as_json: bool = False) -> None:
        """Raise CheckFailed (exit code 1) naming the first failed check, if any failed; the hint points at
        its difference (or reason) as printed: in the table above, or (``as_json``) in the JSON output."""
        failures = self.failures
        if not failures:
            return
        first = failures[0]
        check = first.failed
        assert check is not None
        more = f" (and {len(failures) - 1} more migration(s))" if len(failures) > 1 else ""
        if as_json:
            index = self.migrations.index(first)
            where = f"see migrations[{index}].{'diff' if first.diff else 'checks'} in the JSON output"
        else:
            where = f"see the {'difference' if first.diff else 'reason'} shown above"
        raise CheckFailed(
            f"rehearsal failed: {first.label()}: {check.name} failed{more}",
            hint=f"{where}; fix the migration and rehearse again",
        )


@dataclass(frozen=True)
class RestoreResult:
    """What ``restore`` did: the backup put back into the database, checked (``source`` describes the backup)."""

    database: str
    backup: str
    source: str  # what the backup is and where (no credentials)
    version: int | None  # the version recorded in the restored database
    collections: tuple[str, ...]  # swapped in from the backup
    dropped: tuple[str, ...]  # in the database but not in the backup
    views: tuple[str, ...]
    documents: int
    verified: bool
    seconds: float
    notes: tuple[str, ...] = ()  # e.g. an earlier restore's half-done swap finished first
    checks: tuple[str, ...] = ()  # what was checked (a restore from files: per format)
    unchecked: tuple[str, ...] = ()  # what could not be (e.g. a mongodump directory's bytes: no checksum)
    assumed: tuple[str, ...] = ()  # what a dump's metadata did not say and was assumed, one line per kind

    def outcome(self) -> str:
        """Return ``verified``, ``verified: <checks>``, or ``checked: <checks>; not checked: <what>``."""
        if not self.checks:
            return "verified"
        if not self.unchecked:
            return f"verified: {', '.join(self.checks)}"
        return f"checked: {', '.join(self.checks)}; not checked: {', '.join(self.unchecked)}"

    def to_json(self) -> dict[str, Any]:
        """Return the result as plain data."""
        return {
            "notes": list(self.notes),
            "database": self.database,
            "backup": self.backup,
            "source": self.source,
            "version": self.version,
            "collections": list(self.collections),
            "dropped": list(self.dropped),
            "views": list(self.views),
            "documents": self.documents,
            "verified": self.verified,
            "checks": list(self.checks),
            "unchecked": list(self.unchecked),
            "assumed": list(self.assumed),
            "seconds": round(self.seconds, 3),
        }
