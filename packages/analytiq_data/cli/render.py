"""Drawing results and progress: rich bars on a TTY, plain lines otherwise, JSON for machines.

Results go to stdout; progress, notes and errors to stderr, so ``--json | jq`` works.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol, TextIO

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.progress import (
    Progress as RichBars,
)
from rich.table import Table

from analytiq_data.progress import NullProgress, Progress


def stderr_is_tty() -> bool:
    """Return whether progress can be drawn as live bars."""
    return sys.stderr.isatty()


class PlainProgress:
    """Progress as plain lines on stderr (logs, CI, pipes): a line per start and finish, and a
    line at most every ``interval`` seconds per task while it runs."""

    def __init__(self, stream: TextIO | None = None, interval: float = 5.0) -> None:
        self.stream = stream or sys.stderr
        self.interval = interval
        self._tasks: dict[str, dict[str, Any]] = {}

    def start(self, task: str, total: int | None = None, unit: str = "docs") -> None:
        now = time.monotonic()
        self._tasks[task] = {"total": total, "done": 0, "unit": unit, "t0": now, "last": now}
        suffix = f" ({total:,} {unit.removesuffix('s') if total == 1 else unit})" if total is not None else ""
        self._line(f"{task}: started{suffix}")

    def advance(self, task: str, amount: int = 1, nbytes: int = 0) -> None:
        state = self._tasks.get(task)
        if state is None:
            return
        state["done"] += amount
        now = time.monotonic()
        if now - state["last"] >= self.interval:
            state["last"] = now
            rate = state["done"] / max(now - state["t0"], 1e-9)
            total = state["total"]
            of = f"/{total:,}" if total else ""
            eta = f", ETA {(total - state['done']) / rate:.0f}s" if total and rate > 0 else ""
            self._line(f"{task}: {state['done']:,}{of} {state['unit']} ({rate:,.0f}/s{eta})")

    def finish(self, task: str, message: str | None = None) -> None:
        state = self._tasks.pop(task, None)
        took = f" in {time.monotonic() - state['t0']:.1f}s" if state else ""
        self._line(f"{task}: {message or 'done'}{took}")

    def note(self, message: str) -> None:
        self._line(message)

    def close(self) -> None:
        return None

    def _line(self, text: str) -> None:
        print(text, file=self.stream, flush=True)


class RichProgress:
    """Progress as rich bars on stderr: one bar per task with count, rate and ETA."""

    def __init__(self) -> None:
        self.console = Console(stderr=True)
        self.bars = RichBars(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TransferSpeedColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=self.console,
            transient=False,
        )
        self._ids: dict[str, TaskID] = {}
        self._live = False

    def close(self) -> None:
        if self._live:
            self.bars.stop()
            self._live = False

    def start(self, task: str, total: int | None = None, unit: str = "docs") -> None:
        if not self._live:
            self.bars.start()
            self._live = True
        self._ids[task] = self.bars.add_task(task, total=total)

    def advance(self, task: str, amount: int = 1, nbytes: int = 0) -> None:
        if task in self._ids:
            self.bars.advance(self._ids[task], amount)

    def finish(self, task: str, message: str | None = None) -> None:
        task_id = self._ids.pop(task, None)
        if task_id is not None:
            total = self.bars.tasks[task_id].completed if task_id in self.bars.task_ids else None
            self.bars.update(task_id, total=total, description=f"{task} {message or ''}".strip())

    def note(self, message: str) -> None:
        self.console.print(message, markup=False, highlight=False)


class QuietProgress(NullProgress):
    """Progress for ``--json``: no bars, notes only, as plain lines on stderr (stdout stays JSON)."""

    def note(self, message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    def close(self) -> None:
        return None


class ClosableProgress(Progress, Protocol):
    """A progress sink the CLI must close when the command ends (stops live bars)."""

    def close(self) -> None:
        """Stop drawing."""


def make_progress(json_output: bool, quiet: bool = False) -> ClosableProgress:
    """Return the progress sink fitting the output: quiet for JSON, rich on a TTY, else plain."""
    if json_output or quiet:
        return QuietProgress()
    if stderr_is_tty():
        return RichProgress()
    return PlainProgress()


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def print_json(data: Any) -> None:
    """Write ``data`` to stdout as JSON (datetimes as ISO strings, other objects as text)."""
    print(json.dumps(data, default=_json_default, indent=2, sort_keys=False))


def print_table(title: str | None, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """Write a table of results to stdout (boxed on a TTY, aligned text otherwise)."""
    console = Console(soft_wrap=True)
    if not console.is_terminal:
        # Piped or logged: never truncate or wrap cells to a guessed 80 columns.
        console = Console(soft_wrap=True, width=400)
    table = Table(title=title, show_lines=False, title_justify="left")
    for col in columns:
        table.add_column(col)
    for row in rows:
        table.add_row(*("" if v is None else escape(str(v)) for v in row))  # "[token_1]" is data, not markup
    console.print(table)
