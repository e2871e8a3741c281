"""How a run over many databases reports: ``FleetProgress``, and the per-database ``Progress`` behind it.

The fan-out tells a ``FleetProgress`` when it begins, when a database starts and ends, and what
each running database is doing (its current step or task, as values: a label, a kind, ``(i, n)``).
The verb running on one database reports through the ordinary ``Progress`` interface; a
``DatabaseProgress`` turns those calls into the fleet's. The command line draws a ``FleetProgress``
(a live table, plain lines); an application may pass its own, or a plain ``Progress`` (each
database then appears as one task of it: ``as_fleet_progress``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from analytiq_data.fleet.results import DatabaseResult, Outcome
from analytiq_data.progress import Outcome as TaskOutcome
from analytiq_data.progress import Progress, TaskKind, compatible


@runtime_checkable
class FleetProgress(Protocol):
    """Receives progress from a run over many databases. Engines call it; they never print."""

    def begin(self, verb: str, databases: Sequence[str], jobs: int) -> None:
        """The run starts: ``verb`` on ``databases``, ``jobs`` at once."""

    def started(self, database: str) -> None:
        """``database``'s run starts."""

    def activity(self, database: str, label: str, kind: TaskKind, step: tuple[int, int] | None) -> None:
        """``database`` is now doing ``label`` (a migration step, a collection being copied, …)."""

    def finished(self, result: DatabaseResult) -> None:
        """``result.database``'s run ended (skipped databases are reported here too)."""

    def deferred(self, database: str, holder: str) -> None:
        """``database``'s lock is held by ``holder``: its run comes back after the others."""

    def note(self, database: str | None, message: str) -> None:
        """A line worth showing a person, about ``database`` (None: the whole run)."""


class NullFleetProgress:
    """A FleetProgress that goes nowhere: the default for library callers."""

    def begin(self, verb: str, databases: Sequence[str], jobs: int) -> None:
        return None

    def started(self, database: str) -> None:
        return None

    def activity(self, database: str, label: str, kind: TaskKind, step: tuple[int, int] | None) -> None:
        return None

    def finished(self, result: DatabaseResult) -> None:
        return None

    def deferred(self, database: str, holder: str) -> None:
        return None

    def note(self, database: str | None, message: str) -> None:
        return None


class ProgressAsFleet:
    """A FleetProgress on an application's plain ``Progress``: one task per database (named by it),
    started and finished with its outcome; notes prefixed with the database."""

    def __init__(self, progress: Progress) -> None:
        self.progress = compatible(progress)

    def begin(self, verb: str, databases: Sequence[str], jobs: int) -> None:
        self.progress.note(f"{verb}: {len(databases)} databases, {jobs} at a time")

    def started(self, database: str) -> None:
        self.progress.start(database, None, "steps", kind=TaskKind.WORK, label=database)

    def activity(self, database: str, label: str, kind: TaskKind, step: tuple[int, int] | None) -> None:
        if kind is TaskKind.STEP:
            self.progress.advance(database)

    def finished(self, result: DatabaseResult) -> None:
        if result.outcome is Outcome.SKIPPED:
            return
        ended = TaskOutcome.OK if result.outcome in (Outcome.OK, Outcome.AHEAD) else TaskOutcome.FAILED
        if result.outcome is Outcome.INTERRUPTED:
            ended = TaskOutcome.INTERRUPTED
        self.progress.finish(result.database, result.error, outcome=ended)

    def deferred(self, database: str, holder: str) -> None:
        self.progress.finish(database, f"lock held by {holder}: later", outcome=TaskOutcome.OK)

    def note(self, database: str | None, message: str) -> None:
        self.progress.note(message if database is None else f"{database}: {message}")


def as_fleet_progress(progress: FleetProgress | Progress | None) -> FleetProgress:
    """Return ``progress`` as a FleetProgress: as it is, wrapped (a plain Progress), or a null one."""
    if progress is None:
        return NullFleetProgress()
    if isinstance(progress, FleetProgress):
        return progress
    return ProgressAsFleet(progress)


class DatabaseProgress:
    """The ``Progress`` one database's verb reports through: its tasks become the fleet's ``activity``
    (the newest one started; the previous again when it ends), its notes the fleet's notes."""

    def __init__(self, fleet: FleetProgress, database: str) -> None:
        self.fleet = fleet
        self.database = database
        self.running: list[tuple[str, str, TaskKind, tuple[int, int] | None]] = []

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
        self.running.append((task, label or task, kind, step))
        self.fleet.activity(self.database, label or task, kind, step)

    def advance(self, task: str, amount: int = 1, nbytes: int = 0) -> None:
        return None

    def finish(self, task: str, message: str | None = None, *, outcome: TaskOutcome = TaskOutcome.OK) -> None:
        self.running = [r for r in self.running if r[0] != task]
        if self.running:
            _, label, kind, step = self.running[-1]
            self.fleet.activity(self.database, label, kind, step)

    def note(self, message: str) -> None:
        self.fleet.note(self.database, message)


class HeldBack:
    """A Progress that keeps a run's notes until its first task starts (or ``release``), for a run that
    may give way: waiting for a lock it will not wait for says nothing; what a run that goes ahead
    noted before its first step (a lease taken over from a dead runner) is shown after all."""

    def __init__(self, inner: Progress) -> None:
        self.inner = compatible(inner)
        self.kept: list[str] | None = []

    def release(self) -> None:
        """Show the notes kept so far, and every note from now on."""
        kept, self.kept = self.kept or [], None
        for message in kept:
            self.inner.note(message)

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
        self.release()
        self.inner.start(task, total, unit, kind=kind, label=label, step=step)

    def advance(self, task: str, amount: int = 1, nbytes: int = 0) -> None:
        self.inner.advance(task, amount, nbytes)

    def finish(self, task: str, message: str | None = None, *, outcome: TaskOutcome = TaskOutcome.OK) -> None:
        self.inner.finish(task, message, outcome=outcome)

    def note(self, message: str) -> None:
        if self.kept is None:
            self.inner.note(message)
        else:
            self.kept.append(message)
