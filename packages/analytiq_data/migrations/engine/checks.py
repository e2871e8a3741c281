"""Refusals before anything runs: a dirty database, a reordered list; and hints for step errors."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from pymongo.errors import InvalidOperation, OperationFailure

from analytiq_data.errors import MigrationError
from analytiq_data.migrations.base import Migration
from analytiq_data.migrations.engine.checksum import migration_checksum
from analytiq_data.migrations.engine.failures import StepEndedProcess, StepTimedOut
from analytiq_data.migrations.engine.lock import NestedRunError, format_time
from analytiq_data.migrations.engine.results import Mismatch
from analytiq_data.migrations.engine.state import HistoryRecord, StateStore

# Server errors meaning "this step is too big or too slow for one transaction".
_TOO_BIG_FOR_A_TRANSACTION = {50, 257, 290, 10334}


def dirty_target(record: HistoryRecord) -> int:
    """Return the version the database would be at had the dirty step completed."""
    return record.version if record.direction == "up" else record.version - 1


async def live_dirty(state: StateStore, current: int, *, under_lock: bool) -> HistoryRecord | None:
    """Return the dirty record that still stands.

    Without the lock, a record still ``started`` may belong to a runner at work and is not
    counted. Under the lock (other runs' ``started`` records are then ``interrupted``), a record
    whose target version is the recorded version is cleared: the version is written after the
    step succeeds and before the mark is cleared, so the step did finish.
    """
    record = await state.dirty_record()
    if record is None or (record.outcome == "started" and not under_lock):
        return None
    if under_lock and current == dirty_target(record) and record.outcome in ("started", "interrupted"):
        await state.clear_dirty(record.id, "applied", error=None)
        return None
    return record


def dirty_error(record: HistoryRecord) -> MigrationError:
    """Return the refusal naming the dirty step and how to resolve it."""
    what = "failed" if record.outcome == "failed" else "was interrupted"
    when = f" at {format_time(record.started_at)}" if record.started_at else ""
    return MigrationError(
        f"the database is dirty: version {record.version} ({record.name}, idempotent = False) {what} "
        f"going {record.direction} outside a transaction{when}",
        hint=f"check its data, then record what is true with analytiq-db resolve --version {record.version} "
        "--mark applied (or --mark reverted)",
    )


async def refuse_if_dirty(state: StateStore, current: int, *, under_lock: bool) -> None:
    """Raise MigrationError if a non-idempotent step left the database dirty."""
    record = await live_dirty(state, current, under_lock=under_lock)
    if record is not None:
        raise dirty_error(record)


def class_mismatches(migrations: Sequence[Migration], recorded: Mapping[int, str]) -> list[Mismatch]:
    """Return the versions whose class in the list differs from the class name recorded there.

    ``recorded`` maps versions to class names (from the history, or from a lockfile); versions
    beyond the list and empty names are not compared.
    """
    return [
        Mismatch(version=v, recorded=name, current=migrations[v - 1].name)
        for v, name in sorted(recorded.items())
        if 1 <= v <= len(migrations) and name and name != migrations[v - 1].name
    ]


def code_changed(name: str, checksum: str | None, recorded_name: str | None, recorded_checksum: str | None) -> bool:
    """Return whether the same class was recorded with other code (both checksums known and different)."""
    return bool(recorded_name == name and recorded_checksum and checksum and recorded_checksum != checksum)


async def mismatches(state: StateStore, migrations: Sequence[Migration], current: int) -> list[Mismatch]:
    """Return the versions whose class in the list differs from the class the history applied there."""
    found = await state.in_effect(min(current, len(migrations)))
    return class_mismatches(migrations, {v: rec.name for v, rec in found.items()})


@dataclass(frozen=True)
class AppliedReview:
    """How the applied versions compare with the list: other classes there, and code changed since."""

    mismatches: tuple[Mismatch, ...]
    changed: tuple[int, ...]

    def warnings(self, migrations: Sequence[Migration]) -> tuple[str, ...]:
        """Return one warning line per version whose code changed since it was applied."""
        return tuple(
            f"warning: version {v} ({migrations[v - 1].name}) changed since it was applied (its code's checksum "
            "differs); status and check exit 1 for it"
            for v in self.changed
        )


async def review_applied(state: StateStore, migrations: Sequence[Migration], current: int) -> AppliedReview:
    """Return the applied versions whose class differs from the list's, and those whose code changed."""
    found = await state.in_effect(min(current, len(migrations)))
    changed = tuple(
        v
        for v, rec in sorted(found.items())
        if code_changed(migrations[v - 1].name, migration_checksum(migrations[v - 1]), rec.name, rec.checksum)
    )
    return AppliedReview(tuple(class_mismatches(migrations, {v: r.name for v, r in found.items()})), changed)


def mismatch_error(found: Sequence[Mismatch]) -> MigrationError:
    """Return the refusal naming the first reordered version (and how many more)."""
    first = found[0]
    more = f" (and {len(found) - 1} more)" if len(found) > 1 else ""
    return MigrationError(
        f"the migration list does not match the database: version {first.version} was applied as "
        f"{first.recorded} but the list has {first.current} there{more}",
        hint="restore the list's order (append new migrations at the end, never insert or reorder)",
    )


def hint_for(exc: BaseException) -> str | None:
    """Return advice for step errors with a known cause (GridFS cursors, big transactions)."""
    if isinstance(exc, StepEndedProcess):
        return "a step must return True or raise an exception; the traceback is in analytiq-db history"
    if isinstance(exc, NestedRunError):
        return (
            "a step must not run migrations (run_migrations, up, down, stamp) on the database being migrated; "
            "the traceback is in analytiq-db history"
        )
    if isinstance(exc, StepTimedOut):
        return (
            "make the step faster or give it more time (its class's time_limit_s, or --step-time-limit); "
            "the traceback is in analytiq-db history"
        )
    if isinstance(exc, InvalidOperation) and "GridFS" in str(exc):
        return (
            "the driver refuses GridFS cursors (bucket.find) inside a transaction: iterate "
            "db['<bucket>.files'].find() instead, or declare use_transaction = False"
        )
    if isinstance(exc, OperationFailure):
        if exc.code in _TOO_BIG_FOR_A_TRANSACTION:
            return "the step is too big or slow for one transaction: declare use_transaction = False"
        if exc.code == 72 and "write concern" in str(exc):
            return "inside a transaction do not set a write concern on a collection: the transaction carries it"
    return None
