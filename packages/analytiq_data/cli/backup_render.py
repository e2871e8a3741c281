"""Drawing a backup: the guide's lines (not a terminal), rich bars with MB (a terminal), JSON.

Narrative (the guide's "Backing up collection: X" / "✓ Copied N documents" lines, notes, the
summary) goes to stdout as the original ``backup_db.py`` printed it; live bars and periodic
progress lines go to stderr. With ``--json`` stdout holds only the JSON and notes go to stderr.
"""

from __future__ import annotations

import sys
from typing import Any, TextIO

from analytiq_data.backup.results import BackupResult
from analytiq_data.cli.progress_view import (
    PlainLines,
    RichLines,
    TaskFinished,
    TaskState,
    count_text,
    duration_text,
    mark,
    megabytes,
    rate_text,
)
from analytiq_data.cli.render import ClosableProgress, QuietProgress, print_table, stderr_is_tty
from analytiq_data.progress import TaskKind

__all__ = ["GuideLines", "RichBackupBars", "make_backup_progress", "megabytes", "print_summary", "summary_rows"]


def backup_line(ev: TaskFinished) -> str:
    """Return the line a finished collection leaves: the guide's ``✓ Copied N documents (...)`` or
    ``✓ Verified name: ...`` for a read-back check (✗ when it differs)."""
    s = ev.started
    if s.kind is TaskKind.VERIFY:
        return f"{mark(ev.outcome)} Verified {s.label}: {ev.message or 'done'}"
    rate = rate_text(ev.done, ev.seconds, s.unit)
    detail = ", ".join(p for p in (s.label, megabytes(ev.nbytes), duration_text(ev.seconds), rate) if p)
    if s.kind is TaskKind.PHASE or s.unit != "docs":
        said = ev.message or count_text(ev.done, None, s.unit)
        return f"{mark(ev.outcome)} {s.label}: {said} ({duration_text(ev.seconds)})"
    return f"{mark(ev.outcome)} Copied {ev.done:,} documents ({detail})"


class GuideLines(PlainLines):
    """The guide's lines as each collection starts and ends (stdout), and a progress line every
    ``interval`` s (stderr) with count, MB, docs/s and ETA."""

    def __init__(self, out: TextIO | None = None, err: TextIO | None = None, interval: float = 5.0) -> None:
        super().__init__(err or sys.stderr, interval)
        self.out = out or sys.stdout

    def on_start(self, state: TaskState) -> None:
        s = state.started
        if s.kind is TaskKind.VERIFY:
            return
        if s.kind is TaskKind.PHASE or s.unit != "docs":
            self.say(f"{s.label}" + (f" ({count_text(0, s.total, s.unit)})" if s.total is not None else ""))
            return
        self.say(f"Backing up collection: {s.label}")

    def running_line(self, state: TaskState, seconds: float) -> str:
        line = super().running_line(state, seconds)
        if not state.nbytes:
            return line
        head, _, tail = line.partition(" (")
        return f"{head}, {megabytes(state.nbytes)}" + (f" ({tail}" if tail else "")

    def on_finish(self, ev: TaskFinished, state: TaskState) -> None:
        self.say(backup_line(ev))

    def note(self, message: str) -> None:
        self.say(message)

    def say(self, text: str) -> None:
        """Write one narrative line to stdout, as the guide's script did."""
        print(text, file=self.out, flush=True)


class RichBackupBars(RichLines):
    """One live bar per collection on stderr (documents, MB, docs/s, ETA); each collapses to the
    guide's one line when the collection is done."""

    def summary(self, ev: TaskFinished) -> str:
        return backup_line(ev)


def make_backup_progress(json_output: bool) -> ClosableProgress:
    """Return the progress sink: JSON notes, rich bars on a terminal, else the guide's lines."""
    if json_output:
        return QuietProgress()
    if stderr_is_tty():
        return RichBackupBars()
    return GuideLines()


def summary_rows(result: BackupResult) -> list[list[Any]]:
    """Return one table row per collection and view of ``result``."""
    rows: list[list[Any]] = []
    for r in result.reports:
        verified = {True: "✓", False: "✗ " + "; ".join(r.differences), None: "-"}[r.verified]
        ranges = f"{r.ranges}" + (f" ({r.resumed_ranges} resumed)" if r.resumed_ranges else "")
        rows.append([r.name, r.note or r.kind, f"{r.documents:,}", megabytes(r.nbytes), r.indexes, ranges, verified])
    return rows


def concurrency_note(result: BackupResult) -> str:
    """Return ``"; 1-2 writes in flight (mean 1.2, at most 8)"`` for a copy, else an empty string."""
    return f"; {result.concurrency.describe()}" if result.concurrency and result.concurrency.batches else ""


def print_summary(result: BackupResult) -> None:
    """Write the per-collection summary table to stdout."""
    title = {"copy": "Backup", "dry-run": "Dry run: would copy", "verify-only": "Comparison"}[result.mode]
    columns = ["collection", "kind", "documents", "size", "indexes", "ranges", "verified"]
    print_table(f"{title} {result.src_db!r} → {result.dest_db!r}", columns, summary_rows(result))
