"""Drawing a backup: the guide's lines (not a terminal), rich bars with MB (a terminal), JSON.

Narrative (the guide's "Backing up collection: X" / "✓ Copied N documents" lines, notes, the
summary) goes to stdout as the original ``backup_db.py`` printed it; live bars and periodic
progress lines go to stderr. With ``--json`` stdout holds only the JSON and notes go to stderr.
"""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    ProgressColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.progress import Progress as RichBars
from rich.progress import Task as RichTask
from rich.text import Text

from analytiq_data.backup.pipeline import VERIFY_UNIT
from analytiq_data.backup.results import BackupResult
from analytiq_data.cli.render import ClosableProgress, QuietProgress, print_table, stderr_is_tty

MB = 1024 * 1024


def megabytes(nbytes: int) -> str:
    """Return ``nbytes`` as megabytes with one decimal."""
    return f"{nbytes / MB:,.1f} MB"


class GuideLines:
    """The guide's lines as each collection starts and ends, and a progress line every ``interval`` s."""

    def __init__(self, out: TextIO | None = None, err: TextIO | None = None, interval: float = 5.0) -> None:
        self.out = out or sys.stdout
        self.err = err or sys.stderr
        self.interval = interval
        self._tasks: dict[str, dict[str, Any]] = {}

    def start(self, task: str, total: int | None = None, unit: str = "docs") -> None:
        now = time.monotonic()
        self._tasks[task] = {"total": total, "done": 0, "nbytes": 0, "unit": unit, "t0": now, "last": now}
        if unit != VERIFY_UNIT:
            self._print(f"Backing up collection: {task}")

    def advance(self, task: str, amount: int = 1, nbytes: int = 0) -> None:
        state = self._tasks.get(task)
        if state is None:
            return
        state["done"] += amount
        state["nbytes"] += nbytes
        now = time.monotonic()
        if now - state["last"] >= self.interval:
            state["last"] = now
            rate = state["done"] / max(now - state["t0"], 1e-9)
            total = state["total"]
            of = f"/{total:,}" if total else ""
            eta = f", ETA {max(total - state['done'], 0) / rate:.0f}s" if total and rate > 0 else ""
            line = f"{task}: {state['done']:,}{of} documents, {megabytes(state['nbytes'])} ({rate:,.0f}/s{eta})"
            print(line, file=self.err, flush=True)

    def finish(self, task: str, message: str | None = None) -> None:
        state = self._tasks.pop(task, None) or {"done": 0, "nbytes": 0, "unit": "docs", "t0": time.monotonic()}
        took = time.monotonic() - state["t0"]
        if state["unit"] == VERIFY_UNIT:
            mark = "✗" if message and "DIFFERS" in message else "✓"
            self._print(f"{mark} Verified {task.removesuffix(' (verify)')}: {message or 'done'}")
            return
        detail = f"{task}, {megabytes(state['nbytes'])}, {took:.1f}s"
        self._print(f"✓ Copied {state['done']} documents ({detail})")

    def note(self, message: str) -> None:
        self._print(message)

    def close(self) -> None:
        return None

    def _print(self, text: str) -> None:
        print(text, file=self.out, flush=True)


class _MegabytesColumn(ProgressColumn):
    """Megabytes moved so far."""

    def render(self, task: RichTask) -> Text:
        return Text(megabytes(int(task.fields.get("nbytes", 0))), style="progress.filesize")


class _RateColumn(ProgressColumn):
    """Documents per second."""

    def render(self, task: RichTask) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed:,.0f} docs/s" if speed else "", style="progress.data.speed")


class RichBackupBars:
    """One rich bar per collection on stderr: documents, MB, rate, elapsed and ETA."""

    def __init__(self) -> None:
        self.console = Console(stderr=True)
        self.bars = RichBars(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            _MegabytesColumn(),
            _RateColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=self.console,
        )
        self._ids: dict[str, TaskID] = {}
        self._done: dict[str, list[int]] = {}  # task -> [documents, bytes]
        self._live = False

    def start(self, task: str, total: int | None = None, unit: str = "docs") -> None:
        if not self._live:
            self.bars.start()
            self._live = True
        self._ids[task] = self.bars.add_task(task, total=total, nbytes=0)
        self._done[task] = [0, 0]

    def advance(self, task: str, amount: int = 1, nbytes: int = 0) -> None:
        task_id = self._ids.get(task)
        if task_id is not None:
            done = self._done[task]
            done[0] += amount
            done[1] += nbytes
            self.bars.update(task_id, advance=amount, nbytes=done[1])

    def finish(self, task: str, message: str | None = None) -> None:
        task_id = self._ids.pop(task, None)
        docs, _ = self._done.pop(task, [0, 0])
        if task_id is not None:
            mark = "✗" if message and "DIFFERS" in message else "✓"
            self.bars.update(task_id, total=docs, completed=docs, description=f"{task} {mark}")

    def note(self, message: str) -> None:
        self.console.print(message, markup=False, highlight=False)

    def close(self) -> None:
        if self._live:
            self.bars.stop()
            self._live = False


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
