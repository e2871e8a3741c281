"""The small progress interface engines report through; the CLI draws it (rich, plain, JSON).

Engines call four methods and never print. What a renderer needs beyond the task name is passed
as values (never text to parse): the task's ``kind`` (a copy, a read-back check, a migration
step, a phase such as sizing), the ``label`` to show, ``step=(i, n)`` for "step i of n", and the
``outcome`` a task ended with.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from enum import StrEnum
from typing import Protocol


class TaskKind(StrEnum):
    """What a progress task is, so a renderer can word it without parsing its name."""

    WORK = "work"
    """Documents (or other units) being processed: the default."""
    COPY = "copy"
    """A collection being copied."""
    VERIFY = "verify"
    """A copied collection read back and compared."""
    STEP = "step"
    """A migration step."""
    PHASE = "phase"
    """Preparatory work worth showing (sizing collections, counting documents)."""


class Outcome(StrEnum):
    """How a task ended."""

    OK = "ok"
    DIFFERS = "differs"
    """A check found the destination differing from the source."""
    FAILED = "failed"
    INTERRUPTED = "interrupted"


class Progress(Protocol):
    """Receives progress from long work. Engines call it; they never print."""

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
        """A unit of work named ``task`` begins; ``total`` ``unit`` are expected if known.

        ``label`` is what to show (default: ``task``, which must stay unique while it runs);
        ``step=(i, n)`` marks it as the i-th of n.
        """

    def advance(self, task: str, amount: int = 1, nbytes: int = 0) -> None:
        """``amount`` more items (``nbytes`` bytes) of ``task`` are done."""

    def finish(self, task: str, message: str | None = None, *, outcome: Outcome = Outcome.OK) -> None:
        """``task`` is over; ``message`` summarises how it ended, ``outcome`` says it as a value."""

    def note(self, message: str) -> None:
        """A line of narrative worth showing a person (a step starting, a warning)."""


class NullProgress:
    """Progress that goes nowhere: the default for library callers."""

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
        return None

    def advance(self, task: str, amount: int = 1, nbytes: int = 0) -> None:
        return None

    def finish(self, task: str, message: str | None = None, *, outcome: Outcome = Outcome.OK) -> None:
        return None

    def note(self, message: str) -> None:
        return None


NULL_PROGRESS: Progress = NullProgress()


class _OldStyle:
    """Passes calls to a sink written before ``kind``/``label``/``step``/``outcome`` existed, without them."""

    def __init__(self, sink: Progress) -> None:
        self.sink = sink

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
        self.sink.start(task, total, unit)

    def advance(self, task: str, amount: int = 1, nbytes: int = 0) -> None:
        self.sink.advance(task, amount, nbytes)

    def finish(self, task: str, message: str | None = None, *, outcome: Outcome = Outcome.OK) -> None:
        self.sink.finish(task, message)

    def note(self, message: str) -> None:
        self.sink.note(message)


def compatible(progress: Progress | None) -> Progress:
    """Return ``progress`` (NULL_PROGRESS for None), wrapped if it predates the keyword arguments.

    A sink whose ``start`` takes no ``kind`` (or whose ``finish`` takes no ``outcome``) keeps
    working: it is called with the three positional arguments it knows.
    """
    if progress is None:
        return NULL_PROGRESS
    if isinstance(progress, (NullProgress, _OldStyle)):
        return progress
    try:
        start = inspect.signature(progress.start).parameters
        finish = inspect.signature(progress.finish).parameters
    except (TypeError, ValueError):
        return progress
    if _takes(start, "kind", "label", "step") and _takes(finish, "outcome"):
        return progress
    return _OldStyle(progress)


def _takes(params: Mapping[str, inspect.Parameter], *names: str) -> bool:
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return True
    return all(n in params for n in names)


class Rollup:
    """Shows the many tasks of one piece of work (a whole-database copy) as one task of ``progress``.

    Documents copied by the inner tasks count towards the one task; read-back checks are not
    counted twice; the inner narrative ("Found 6 collections…") is left out: the one task's line
    says it. ``close(message)`` ends the one task (✗ if an inner task did not end well).
    """

    def __init__(self, progress: Progress, task: str, label: str | None = None) -> None:
        self.progress, self.task = progress, task
        self.skipped: set[str] = set()
        self.failed = False
        progress.start(task, None, "docs", kind=TaskKind.WORK, label=label)

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
        if kind in (TaskKind.VERIFY, TaskKind.PHASE) or unit != "docs":
            self.skipped.add(task)

    def advance(self, task: str, amount: int = 1, nbytes: int = 0) -> None:
        if task not in self.skipped:
            self.progress.advance(self.task, amount, nbytes)

    def finish(self, task: str, message: str | None = None, *, outcome: Outcome = Outcome.OK) -> None:
        self.skipped.discard(task)
        self.failed = self.failed or outcome is not Outcome.OK

    def note(self, message: str) -> None:
        return None

    def close(self, message: str | None = None, outcome: Outcome | None = None) -> None:
        """End the one task with ``message`` and ``outcome`` (default: DIFFERS if an inner task did not end well)."""
        if outcome is None:
            outcome = Outcome.DIFFERS if self.failed else Outcome.OK
        self.progress.finish(self.task, message, outcome=outcome)
