"""Typed results of the migration verbs; the command line renders them as text or JSON."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from analytiq_data.errors import Interrupted, MigrationError
from analytiq_data.migrations.engine.lock import LockInfo
from analytiq_data.migrations.engine.state import HistoryRecord


@dataclass(frozen=True)
class StepResult:
    """One step of a run: applied (with its duration), or only planned (``--dry-run``)."""

    version: int
    name: str
    description: str
    direction: str
    transactional: bool
    idempotent: bool
    reversible: bool
    outcome: str  # "applied" | "planned"
    duration_s: float | None = None
    transaction_note: str | None = None  # why it ran outside a transaction the server offered


@dataclass(frozen=True)
class RunResult:
    """What ``up``/``down``/``run_migrations`` did (or, with ``dry_run``, would do)."""

    database: str
    from_version: int
    to_version: int
    target: int
    head: int
    direction: str | None
    steps: tuple[StepResult, ...] = ()
    dry_run: bool = False
    database_ahead: bool = False
    reached_by_other: bool = False
    waited_s: float = 0.0
    transactions: bool = False
    #: What the pre-step hook recorded on every step of this run (``{"backup": "<database>"}`` after a
    #: verified backup with ``backup=True``); empty when no hook ran.
    recorded: Mapping[str, Any] = field(default_factory=dict)
    #: Applied versions whose code changed since they were applied (the run still exits 0; ``status``
    #: and ``check`` exit 1 for them), and the warning lines said about them.
    changed: tuple[int, ...] = ()
    warnings: tuple[str, ...] = ()

    @property
    def nothing_to_do(self) -> bool:
        """Return whether no step ran (or would run)."""
        return not self.steps

    def to_json(self) -> dict[str, Any]:
        """Return the result as plain data."""
        return {**asdict(self), "nothing_to_do": self.nothing_to_do}


@dataclass(frozen=True)
class Mismatch:
    """A version whose class in the list is not the class the history says was applied there."""

    version: int
    recorded: str
    current: str


@dataclass(frozen=True)
class StepStatus:
    """One entry of the list, as the database sees it."""

    version: int
    name: str
    description: str
    applied: bool
    applied_at: datetime | None
    recorded_name: str | None
    code_changed: bool
    use_transaction: bool
    idempotent: bool
    reversible: bool


@dataclass(frozen=True)
class StatusResult:
    """Where a database stands against a migration list, and anything that needs attention."""

    database: str
    current: int
    head: int
    updated_at: datetime | None
    transactions: bool
    steps: tuple[StepStatus, ...]
    database_ahead: bool
    mismatches: tuple[Mismatch, ...]
    changed: tuple[int, ...]
    dirty: HistoryRecord | None
    lock: LockInfo | None
    problems: tuple[str, ...] = field(default=())

    @property
    def pending(self) -> tuple[StepStatus, ...]:
        """Return the steps not yet applied."""
        return tuple(s for s in self.steps if not s.applied)

    def to_json(self) -> dict[str, Any]:
        """Return the status as plain data."""
        data = asdict(self)
        data["dirty"] = self.dirty.to_json() if self.dirty else None
        data["lock"] = self.lock.to_json() if self.lock else None
        data["pending"] = [s.version for s in self.pending]
        return data


@dataclass(frozen=True)
class HistoryResult:
    """History records, newest first."""

    database: str
    records: tuple[HistoryRecord, ...]

    def to_json(self) -> dict[str, Any]:
        """Return the records as plain data."""
        return {"database": self.database, "records": [r.to_json() for r in self.records]}


@dataclass(frozen=True)
class StampResult:
    """A version recorded without running any step."""

    database: str
    from_version: int
    to_version: int

    def to_json(self) -> dict[str, Any]:
        """Return the result as plain data."""
        return asdict(self)


@dataclass(frozen=True)
class UnlockResult:
    """What ``unlock`` found and whether it cleared it."""

    database: str
    lock: LockInfo | None
    cleared: bool

    def to_json(self) -> dict[str, Any]:
        """Return the result as plain data."""
        return {"database": self.database, "lock": self.lock.to_json() if self.lock else None, "cleared": self.cleared}


@dataclass(frozen=True)
class ResolveResult:
    """The record of what a person said is true after a dirty step."""

    database: str
    version: int
    name: str
    mark: str
    from_version: int
    to_version: int

    def to_json(self) -> dict[str, Any]:
        """Return the result as plain data."""
        return asdict(self)


@dataclass(frozen=True)
class NewResult:
    """A migration class written into a migrations module."""

    path: str
    class_name: str
    version: int

    def to_json(self) -> dict[str, Any]:
        """Return the result as plain data."""
        return asdict(self)


class StepFailedError(MigrationError):
    """A step failed; carries the step and what the run applied before it."""

    def __init__(self, message: str, *, hint: str | None, version: int, name: str, applied: tuple[StepResult, ...]):
        super().__init__(message, hint=hint)
        self.version = version
        self.name = name
        self.applied = applied


class RunInterrupted(Interrupted):
    """The run was asked to stop and stopped at a safe point; carries what it applied."""

    def __init__(self, message: str, *, hint: str | None, applied: tuple[StepResult, ...], version: int):
        super().__init__(message, hint=hint)
        self.applied = applied
        self.version = version
