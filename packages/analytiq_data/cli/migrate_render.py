"""Drawing the migrate verbs' results: text tables and lines on stdout, or JSON with ``--json``."""

from __future__ import annotations

from datetime import datetime

from analytiq_data.cli.render import print_json, print_table
from analytiq_data.migrations.engine.lock import format_time
from analytiq_data.migrations.engine.results import (
    HistoryResult,
    NewResult,
    ResolveResult,
    RunResult,
    StampResult,
    StatusResult,
    StepResult,
    UnlockResult,
)
from analytiq_data.migrations.engine.state import HistoryRecord


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value else ""


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


def _flags(step: StepResult) -> str:
    notes = [] if step.idempotent else ["not idempotent"]
    return ", ".join(notes if step.reversible else [*notes, "irreversible"])


def run_result(result: RunResult, as_json: bool) -> None:
    """Print what up/down did or, with --dry-run, would do."""
    if as_json:
        print_json(result.to_json())
        return
    where = f"database {result.database}"
    if result.database_ahead:
        print(
            f"{where} is at version {result.from_version}, newer than this code's newest migration "
            f"({result.head}): nothing done"
        )
    elif result.dry_run:
        mode = "transactions available" if result.transactions else "no transactions on this server"
        print(f"plan for {where}: {result.direction} from version {result.from_version} to {result.target} ({mode})")
        rows = [(s.version, s.name, s.direction, _yes(s.transactional), _flags(s)) for s in result.steps]
        print_table(None, ["version", "migration", "direction", "transaction", "notes"], rows)
    elif result.reached_by_other:
        print(f"{where} is at version {result.to_version}: another runner brought it there")
    elif result.nothing_to_do:
        print(f"{where} is at version {result.to_version}: nothing to do")
    else:
        count = len(result.steps)
        print(
            f"{where}: version {result.from_version} → {result.to_version} "
            f"({count} step{'s' if count != 1 else ''} {'applied' if result.direction == 'up' else 'reverted'})"
        )


def status_result(result: StatusResult, as_json: bool) -> None:
    """Print the status table and the problems under it."""
    if as_json:
        print_json(result.to_json())
        return
    print(
        f"database {result.database}: version {result.current} of {result.head}"
        + (f" (recorded {format_time(result.updated_at)}; times in UTC)" if result.updated_at else "")
    )
    rows = []
    for s in result.steps:
        notes = []
        if s.recorded_name and s.recorded_name != s.name:
            notes.append(f"applied as {s.recorded_name}!")
        if s.code_changed:
            notes.append("code changed since applied")
        if not s.use_transaction:
            notes.append("no transaction")
        if not s.idempotent:
            notes.append("not idempotent")
        if not s.reversible:
            notes.append("irreversible")
        rows.append((s.version, s.name, "applied" if s.applied else "pending", _when(s.applied_at), ", ".join(notes)))
    if rows:
        print_table(None, ["version", "migration", "state", "applied at", "notes"], rows)
    for problem in result.problems:
        print(f"! {problem}")


def history_result(result: HistoryResult, as_json: bool) -> None:
    """Print the history, newest first."""
    if as_json:
        print_json(result.to_json())
        return
    if not result.records:
        print(f"database {result.database}: no migration history")
        return
    rows = [
        (
            _when(r.started_at),
            f"{r.version} {r.direction}",
            r.name,
            r.outcome + (" (dirty)" if r.dirty else ""),
            "" if r.duration_s is None else f"{r.duration_s:.2f}s",
            f"{r.host}:{r.pid}" if r.host else "",
            _history_note(r),
        )
        for r in result.records
    ]
    print_table(None, ["started (UTC)", "step", "migration", "outcome", "took", "where", "error / note"], rows)


def _history_note(record: HistoryRecord) -> str:
    """Return the record's error (naming the failed command), else why it ran outside a transaction, if so."""
    return (record.error or record.transaction_note or "")[:240]


def stamp_result(result: StampResult, as_json: bool) -> None:
    """Print the recorded version."""
    if as_json:
        print_json(result.to_json())
        return
    print(f"database {result.database}: recorded version {result.to_version} (was {result.from_version}); no step ran")


def unlock_result(result: UnlockResult, as_json: bool) -> None:
    """Print who held the lock and whether it was cleared."""
    if as_json:
        print_json(result.to_json())
        return
    if result.lock is None:
        print(f"database {result.database}: no migration lock")
    elif result.cleared:
        state = "its process was gone" if result.lock.holder_gone else "live" if result.lock.live else "expired"
        print(f"database {result.database}: cleared the migration lock ({state}) held by {result.lock.describe()}")
    else:
        print(f"database {result.database}: the lock changed hands meanwhile; nothing cleared")


def resolve_result(result: ResolveResult, as_json: bool) -> None:
    """Print what was recorded for the dirty step."""
    if as_json:
        print_json(result.to_json())
        return
    print(
        f"database {result.database}: recorded version {result.version} ({result.name}) as {result.mark}; "
        f"the database is at version {result.to_version}"
    )


def new_result(result: NewResult, as_json: bool) -> None:
    """Print where the new migration was written and its version."""
    if as_json:
        print_json(result.to_json())
        return
    print(f"wrote {result.class_name} (version {result.version}) to {result.path}")
