"""One progress family for every verb: typed task events, rate/ETA/units text, rich and plain drawing.

Engines report through ``analytiq_data.progress.Progress``. ``EventProgress`` turns those calls
into typed events (``TaskStarted``, ``TaskFinished``, values only) and keeps the counts; the
renderers below draw them: ``RichLines`` as live bars on a terminal that vanish when their task
ends, leaving one summary line each; ``PlainLines`` as plain lines for logs and pipes. The backup
renderers (``cli/backup_render.py``) are the same two classes with the guide's wording.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from typing import TextIO

from rich.console import Console, RenderableType
from rich.progress import BarColumn, ProgressColumn, SpinnerColumn, TaskID, TimeElapsedColumn
from rich.progress import Progress as RichBars
from rich.progress import Task as RichTask
from rich.text import Text

from analytiq_data.progress import Outcome, TaskKind

MB = 1024 * 1024

@dataclass(frozen=True)
class TaskStarted:
    """A task began: what to call it, how many of what are expected, which step of how many."""

    task: str
    label: str
    total: int | None = None
    unit: str = "docs"
    kind: TaskKind = TaskKind.WORK
    step: tuple[int, int] | None = None


@dataclass(frozen=True)
class TaskFinished:
    """A task ended: how much it did, in how long, and how it ended."""

    started: TaskStarted
    done: int = 0
    nbytes: int = 0
    seconds: float = 0.0
    outcome: Outcome = Outcome.OK
    message: str | None = None


@dataclass
class TaskState:
    """A running task's counts."""

    started: TaskStarted
    t0: float = field(default_factory=time.monotonic)
    done: int = 0
    nbytes: int = 0
    last_line: float = field(default_factory=time.monotonic)


def plural(unit: str, n: int) -> str:
    """Return ``unit`` in the singular for one (``docs`` -> ``doc``), else as given."""
    return unit.removesuffix("s") if n == 1 and unit.endswith("s") else unit


def count_text(done: int, total: int | None, unit: str) -> str:
    """Return ``1,234/5,000 docs`` (total known) or ``1,234 docs`` (total unknown)."""
    if total is None:
        return f"{done:,} {plural(unit, done)}"
    return f"{done:,}/{total:,} {plural(unit, total)}"


def rate_text(done: int, seconds: float, unit: str) -> str:
    """Return the rate with its unit named (``1,234 docs/s``), or "" while there is none to show."""
    if unit == "steps" or done <= 0 or seconds <= 0:
        return ""
    return per_second(done / seconds, unit)


def per_second(rate: float, unit: str) -> str:
    """Return ``rate`` items per second with the unit named: ``1,234 docs/s``."""
    return f"{rate:,.0f} {unit}/s" if rate >= 10 else f"{rate:,.1f} {unit}/s"


def duration_text(seconds: float) -> str:
    """Return ``0.4s``, ``12.0s`` or ``3m 04s``."""
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    return f"{minutes // 60}h {minutes % 60:02d}m"


def eta_text(done: int, total: int | None, rate: float | None) -> str:
    """Return ``ETA 12.0s`` when the total and a rate are known, else ""."""
    if total is None or not rate or rate <= 0 or done >= total:
        return ""
    return f"ETA {duration_text((total - done) / rate)}"


def title(started: TaskStarted) -> str:
    """Return what to call a task: ``step 2 of 4: 0002_x up`` for a step, else its label."""
    if started.kind is TaskKind.VERIFY:
        return f"verifying {started.label}"
    if started.step is None:
        return started.label
    i, n = started.step
    return f"step {i} of {n}: {started.label}"


def mark(outcome: Outcome) -> str:
    """Return ✓ for a task that went well, ✗ otherwise."""
    return "✓" if outcome is Outcome.OK else "✗"


def megabytes(nbytes: int) -> str:
    """Return ``nbytes`` as megabytes with one decimal."""
    return f"{nbytes / MB:,.1f} MB"


def finished_line(ev: TaskFinished) -> str:
    """Return the one line a finished task leaves: mark, title, result, count and rate, time."""
    s = ev.started
    head = f"{mark(ev.outcome)} {title(s)}"
    parts: list[str] = []
    if not ev.message and (s.kind not in (TaskKind.STEP, TaskKind.PHASE) or ev.done):
        parts.append(count_text(ev.done, None, s.unit))
    if ev.nbytes:
        parts.append(megabytes(ev.nbytes))
    rate = rate_text(ev.done, ev.seconds, s.unit) if ev.seconds >= 0.5 and s.kind is not TaskKind.PHASE else ""
    parts += [p for p in (rate, duration_text(ev.seconds)) if p]
    said = f": {ev.message}" if ev.message else ""
    return f"{head}{said} ({', '.join(parts)})"


class EventProgress:
    """A ``Progress`` that keeps each task's counts and hands renderers typed events.

    Subclasses draw by overriding ``on_start``, ``on_advance``, ``on_finish`` and ``note``.
    """

    def __init__(self) -> None:
        self.tasks: dict[str, TaskState] = {}

    def start(
        self,
        task: str,
        total: int | None = None,
        unit: str = "docs",
        *,
        kind: TaskKind = TaskKind.WORK,
        label: str | None = None,
        step: tuple[int, int] | None = None,
    ) -> None:
        """Record that ``task`` began and draw it."""
        state = TaskState(TaskStarted(task, label or task, total, unit, kind, step))
        self.tasks[task] = state
        self.on_start(state)

    def advance(self, task: str, amount: int = 1, nbytes: int = 0) -> None:
        """Count ``amount`` more items of ``task`` and redraw it (unknown tasks are ignored)."""
        state = self.tasks.get(task)
        if state is None:
            return
        state.done += amount
        state.nbytes += nbytes
        self.on_advance(state)

    def finish(self, task: str, message: str | None = None, *, outcome: Outcome = Outcome.OK) -> None:
        """Turn ``task`` into a ``TaskFinished`` event and draw it."""
        state = self.tasks.pop(task, None) or TaskState(TaskStarted(task, task))
        seconds = time.monotonic() - state.t0
        self.on_finish(TaskFinished(state.started, state.done, state.nbytes, seconds, outcome, message), state)

    def note(self, message: str) -> None:
        """Show a line of narrative."""

    def close(self) -> None:
        """Stop drawing."""

    def on_start(self, state: TaskState) -> None:
        """Draw a task that began."""

    def on_advance(self, state: TaskState) -> None:
        """Draw a task's new count."""

    def on_finish(self, ev: TaskFinished, state: TaskState) -> None:
        """Draw a task that ended."""


class PlainLines(EventProgress):
    """Progress as plain lines (logs, CI, pipes): a line per start and finish, and a line at most
    every ``interval`` seconds per task while it runs."""

    def __init__(self, stream: TextIO | None = None, interval: float = 5.0) -> None:
        super().__init__()
        self.stream = stream or sys.stderr
        self.interval = interval

    def on_start(self, state: TaskState) -> None:
        s = state.started
        suffix = f" ({s.total:,} {plural(s.unit, s.total)})" if s.total is not None else ""
        self.line(f"{title(s)}: started{suffix}")

    def on_advance(self, state: TaskState) -> None:
        now = time.monotonic()
        if now - state.last_line < self.interval:
            return
        state.last_line = now
        self.line(self.running_line(state, now - state.t0))

    def running_line(self, state: TaskState, seconds: float) -> str:
        """Return the periodic line of a running task: count, rate with unit, ETA."""
        s = state.started
        rate = state.done / seconds if seconds > 0 else 0.0
        extra = [p for p in (rate_text(state.done, seconds, s.unit), eta_text(state.done, s.total, rate)) if p]
        return f"{title(s)}: {count_text(state.done, s.total, s.unit)}" + (f" ({', '.join(extra)})" if extra else "")

    def on_finish(self, ev: TaskFinished, state: TaskState) -> None:
        self.line(finished_line(ev))

    def note(self, message: str) -> None:
        self.line(message)

    def line(self, text: str) -> None:
        """Write one line and flush it."""
        print(text, file=self.stream, flush=True)


class _TitleColumn(ProgressColumn):
    def render(self, task: RichTask) -> Text:
        return Text(str(task.fields.get("title", task.description)), style="bold")


class _BarOrSpinnerColumn(ProgressColumn):
    """A bar when the total is known; a spinner (never an empty ``0/?`` bar) when it is not."""

    def __init__(self) -> None:
        super().__init__()
        self.bar = BarColumn(bar_width=28)
        self.spinner = SpinnerColumn()

    def render(self, task: RichTask) -> RenderableType:
        return self.spinner.render(task) if task.total is None else self.bar.render(task)


class _CountColumn(ProgressColumn):
    def render(self, task: RichTask) -> Text:
        unit = str(task.fields.get("unit", "docs"))
        if task.fields.get("kind") in (TaskKind.STEP, TaskKind.PHASE) and not task.completed:
            return Text("")
        total = None if task.total is None else int(task.total)
        return Text(count_text(int(task.completed), total, unit), style="progress.download")


class _BytesColumn(ProgressColumn):
    def render(self, task: RichTask) -> Text:
        nbytes = int(task.fields.get("nbytes", 0))
        return Text(megabytes(nbytes) if nbytes else "", style="progress.filesize")


class _RateColumn(ProgressColumn):
    """Items per second with the unit named (``docs/s``), and the ETA when the total is known."""

    def render(self, task: RichTask) -> Text:
        unit = str(task.fields.get("unit", "docs"))
        speed = task.speed
        if unit == "steps" or not speed:
            return Text("")
        eta = eta_text(int(task.completed), None if task.total is None else int(task.total), speed)
        return Text(per_second(speed, unit) + (f", {eta}" if eta else ""), style="progress.data.speed")


class RichLines(EventProgress):
    """Live bars on a terminal (stderr). A bar vanishes when its task ends and one line stays."""

    def __init__(self, console: Console | None = None) -> None:
        super().__init__()
        self.console = console or Console(stderr=True)
        self.bars = RichBars(
            _TitleColumn(),
            _BarOrSpinnerColumn(),
            _CountColumn(),
            _BytesColumn(),
            _RateColumn(),
            TimeElapsedColumn(),
            console=self.console,
            transient=True,
        )
        self.ids: dict[str, TaskID] = {}
        self.live = False

    def on_start(self, state: TaskState) -> None:
        if not self.live:
            self.bars.start()
            self.live = True
        s = state.started
        self.ids[s.task] = self.bars.add_task(
            s.task, total=s.total, title=title(s), unit=s.unit, kind=s.kind, nbytes=0
        )

    def on_advance(self, state: TaskState) -> None:
        task_id = self.ids.get(state.started.task)
        if task_id is not None:
            self.bars.update(task_id, completed=state.done, nbytes=state.nbytes)

    def on_finish(self, ev: TaskFinished, state: TaskState) -> None:
        task_id = self.ids.pop(ev.started.task, None)
        if task_id is not None:
            self.bars.remove_task(task_id)
        self.print(self.summary(ev))

    def summary(self, ev: TaskFinished) -> str:
        """Return the line a finished task leaves on screen."""
        return finished_line(ev)

    def note(self, message: str) -> None:
        self.print(message)

    def show(self, task: str, text: str) -> None:
        """Draw ``text`` as a live line of its own among the bars (a status, redrawn in place; one live
        region per terminal, so it never fights the bars); ``close`` or ``hide`` removes it."""
        if not self.live:
            self.bars.start()
            self.live = True
        task_id = self.ids.get(task)
        if task_id is None:
            self.ids[task] = self.bars.add_task(task, total=None, title=text, unit="steps", kind=TaskKind.PHASE)
        else:
            self.bars.update(task_id, title=text)

    def hide(self, task: str) -> None:
        """Remove the live line ``show`` drew for ``task`` (nothing is left on screen)."""
        task_id = self.ids.pop(task, None)
        if task_id is not None:
            self.bars.remove_task(task_id)

    def print(self, text: str) -> None:
        """Print one line above the live bars."""
        self.console.print(text, markup=False, highlight=False)

    def close(self) -> None:
        if self.live:
            self.bars.stop()
            self.live = False
