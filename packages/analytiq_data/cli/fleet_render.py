"""Drawing a run over many databases: a live table on a terminal, plain lines otherwise, JSON for machines.

While it runs (stderr): on a terminal, a header line (done / running / failed, databases per second,
ETA) over a table of the running databases with each one's current step, and one line left above it
per database that ends; in logs and pipes, that line per database and a count line every few
seconds; under ``--json``, only notes. At the end (stdout): a summary grouped by outcome (at the
target, ahead of the code, failed at version V with the one-line cause, interrupted, skipped), or
the JSON of the whole run: one record per database.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TextIO

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.table import Table
from rich.text import Text

from analytiq_data.cli.progress_view import TaskStarted as _Task
from analytiq_data.cli.progress_view import duration_text, title
from analytiq_data.cli.render import print_json, print_table, stderr_is_tty
from analytiq_data.fleet.results import DatabaseResult, FleetResult, Outcome
from analytiq_data.migrations.engine.results import RunResult
from analytiq_data.progress import TaskKind
from analytiq_data.text import first_few, plural

#: Verbs that change databases: each database that ends leaves a line while the run goes on.
CHANGING = ("migrate", "up", "down", "stamp", "backup", "restore", "rehearse")
#: What "ended well" is called in a verb's summary (other verbs: "at version N").
DONE = {"backup": "dumped", "restore": "restored", "rehearse": "passed", "check": "passed", "history": "read"}
#: How many names a summary row lists before "and N more".
SHOWN_NAMES = 6


@dataclass
class Tally:
    """The counts the live views show, and what each running database is doing."""

    verb: str = ""
    total: int = 0
    jobs: int = 0
    t0: float = field(default_factory=time.monotonic)
    done: int = 0
    failed: int = 0
    running: dict[str, tuple[str, float]] = field(default_factory=dict)  # database -> (activity, since)

    def header(self) -> str:
        """Return ``up: 12/200 done, 4 running, 1 failed (3.2 databases/s, ETA 59s)``."""
        seconds = time.monotonic() - self.t0
        rate = self.done / seconds if seconds > 0 and self.done else 0.0
        parts = [f"{self.verb}: {self.done}/{self.total} done", f"{len(self.running)} running"]
        if self.failed:
            parts.append(f"{self.failed} failed")
        extra = []
        if rate:
            extra.append(f"{rate:,.1f} databases/s")
            left = self.total - self.done
            if left > 0:
                extra.append(f"ETA {duration_text(left / rate)}")
        return ", ".join(parts) + (f" ({', '.join(extra)})" if extra else "")


def database_line(result: DatabaseResult) -> str:
    """Return the line a database leaves when it ends: mark, name, what happened, time."""
    took = f" ({duration_text(result.seconds)})" if result.seconds else ""
    if result.outcome is Outcome.FAILED:
        return f"✗ {result.database}: failed{_at(result.version)}: {result.error}"
    if result.outcome is Outcome.INTERRUPTED:
        return f"✗ {result.database}: interrupted{_at(result.version)}: {result.error}"
    if result.outcome is Outcome.SKIPPED:
        return f"- {result.database}: skipped: {result.error}"
    if result.outcome is Outcome.AHEAD:
        return f"! {result.database}: at version {result.version}, newer than the code: nothing done{took}"
    return f"✓ {result.database}: {done_text(result)}{took}"


def _at(version: int | None) -> str:
    return "" if version is None else f" at version {version}"


def done_text(result: DatabaseResult) -> str:
    """Return what a database that ended well did, from its verb's own result."""
    detail = result.detail
    if isinstance(detail, RunResult) and detail.dry_run:
        return f"plan: version {detail.from_version} → {detail.target} ({plural(len(detail.steps), 'step')})"
    if type(detail).__name__ in ("BackupResult", "RestoreResult", "RehearsalResult"):
        return _files_text(detail)
    if result.from_version is not None and result.version is not None and result.from_version != result.version:
        return f"version {result.from_version} → {result.version} ({plural(result.steps, 'step')})"
    if result.version is not None:
        return f"at version {result.version}"
    return "done"


def _files_text(detail: object) -> str:
    """Return what a backup, restore or rehearsal of one database did (their modules imported only here)."""
    from analytiq_data.backup.results import BackupResult
    from analytiq_data.safety.results import RehearsalResult, RestoreResult

    if isinstance(detail, BackupResult):
        checked = "verified" if detail.verified else "not read back"
        return f"{plural(detail.documents, 'document')} to {detail.destination}, {checked}"
    if isinstance(detail, RestoreResult):
        return f"restored from {detail.backup}: {plural(detail.documents, 'document')}; {detail.outcome()}"
    if isinstance(detail, RehearsalResult):
        count = len(detail.migrations)
        return f"all {plural(count, 'migration')} passed" if count else "nothing to rehearse"
    return "done"


class FleetLines:
    """Plain lines on stderr (logs, CI, pipes): a line per database that ends (for the verbs that change
    databases) and a count line at most every ``interval`` seconds."""

    def __init__(self, stream: TextIO | None = None, interval: float = 5.0) -> None:
        self.stream = stream or sys.stderr
        self.interval = interval
        self.tally = Tally()
        self.last = time.monotonic()

    def begin(self, verb: str, databases: Sequence[str], jobs: int) -> None:
        self.tally = Tally(verb, len(databases), jobs)  # the command's target: line said how many, how
        self.last = time.monotonic()

    def started(self, database: str) -> None:
        self.tally.running[database] = ("starting", time.monotonic())

    def activity(self, database: str, label: str, kind: TaskKind, step: tuple[int, int] | None) -> None:
        self.tally.running[database] = (title(_Task(label, label, kind=kind, step=step)), time.monotonic())

    def finished(self, result: DatabaseResult) -> None:
        self.tally.running.pop(result.database, None)
        self.tally.done += 1
        self.tally.failed += result.outcome in (Outcome.FAILED, Outcome.INTERRUPTED)
        if self.tally.verb in CHANGING or result.outcome is not Outcome.OK:
            self.line(database_line(result))
        now = time.monotonic()
        if now - self.last >= self.interval and self.tally.done < self.tally.total:
            self.last = now
            self.line(self.tally.header())

    def deferred(self, database: str, holder: str) -> None:
        self.tally.running.pop(database, None)
        self.note(database, f"its migration lock is held by {holder}: coming back to it after the others")

    def note(self, database: str | None, message: str) -> None:
        self.line(message if database is None else f"{database}: {message}")

    def line(self, text: str) -> None:
        """Write one line and flush it."""
        print(text, file=self.stream, flush=True)

    def close(self) -> None:
        """Nothing to stop."""


class FleetTable(FleetLines):
    """A live table on a terminal (stderr): the counts, then each running database and its current step."""

    def __init__(self, console: Console | None = None) -> None:
        super().__init__()
        self.console = console or Console(stderr=True)
        self.live: Live | None = None

    def begin(self, verb: str, databases: Sequence[str], jobs: int) -> None:
        self.tally = Tally(verb, len(databases), jobs)
        self.live = Live(console=self.console, get_renderable=self.render, refresh_per_second=4, transient=True)
        self.live.start()

    def render(self) -> RenderableType:
        """Return the header and the table of running databases."""
        table = Table(show_header=True, box=None, pad_edge=False)
        for column in ("database", "now", "for"):
            table.add_column(column, style="bold" if column == "database" else None)
        now = time.monotonic()
        for name, (doing, since) in sorted(self.tally.running.items()):
            table.add_row(name, doing, duration_text(now - since))
        return Group(Text(self.tally.header(), style="bold"), table)

    def finished(self, result: DatabaseResult) -> None:
        self.tally.running.pop(result.database, None)
        self.tally.done += 1
        self.tally.failed += result.outcome in (Outcome.FAILED, Outcome.INTERRUPTED)
        if self.tally.verb in CHANGING or result.outcome is not Outcome.OK:
            self.line(database_line(result))

    def line(self, text: str) -> None:
        """Print one line above the live table."""
        self.console.print(text, markup=False, highlight=False)

    def close(self) -> None:
        """Stop the live table."""
        if self.live is not None:
            self.live.stop()
            self.live = None


class QuietFleet(FleetLines):
    """For ``--json``: notes only, on stderr (stdout stays JSON)."""

    def begin(self, verb: str, databases: Sequence[str], jobs: int) -> None:
        self.tally = Tally(verb, len(databases), jobs)

    def finished(self, result: DatabaseResult) -> None:
        return None


def make_fleet_progress(as_json: bool) -> FleetLines:
    """Return the fleet view fitting the output: quiet for JSON, a live table on a terminal, else plain lines."""
    if as_json:
        return QuietFleet()
    if stderr_is_tty():
        return FleetTable()
    return FleetLines()


def _names(results: Sequence[DatabaseResult]) -> str:
    return first_few([r.database for r in results], SHOWN_NAMES, ", ")


def summary_rows(result: FleetResult) -> list[tuple[str, str, str]]:
    """Return the summary grouped by outcome: (outcome, databases, detail); a row per failed database."""
    rows: list[tuple[str, str, str]] = []
    ok = result.by_outcome(Outcome.OK)
    by_version: dict[str, list[DatabaseResult]] = {}
    for r in ok:
        by_version.setdefault("" if r.version is None else f"version {r.version}", []).append(r)
    for version, group in sorted(by_version.items()):
        versioned = version and result.verb in ("migrate", "up", "down", "stamp")
        label = f"at {version}" if versioned else DONE.get(result.verb, "done")
        rows.append((label, plural(len(group), "database"), _names(group)))
    ahead = result.by_outcome(Outcome.AHEAD)
    if ahead:
        rows.append(("ahead of the code", plural(len(ahead), "database"), _names(ahead)))
    for r in (*result.by_outcome(Outcome.FAILED), *result.by_outcome(Outcome.INTERRUPTED)):
        rows.append((f"{r.outcome.value}{_at(r.version)}", r.database, r.error or ""))
    skipped = result.by_outcome(Outcome.SKIPPED)
    if skipped:
        reason = skipped[0].error or ""
        rows.append(("skipped", plural(len(skipped), "database"), f"{reason}: {_names(skipped)}"))
    return rows


def render_fleet(result: FleetResult, as_json: bool) -> None:
    """Print the run's summary grouped by outcome (or its JSON: a record per database)."""
    if as_json:
        print_json(result.to_json())
        return
    for note in result.notes:
        print(note)
    if result.databases:
        print_table(None, ["outcome", "databases", "detail"], summary_rows(result))
    print(verdict(result))
    for name in result.appeared:
        print(f"note: {name} matches the selection but appeared during the run: run the command again to include it")


def verdict(result: FleetResult) -> str:
    """Return the last line: how many databases ended how, in how long, how many at once."""
    counts = ", ".join(f"{n} {outcome}" for outcome, n in result.counts().items())
    return (
        f"{result.verb}: {plural(len(result.databases), 'database')} ({counts}) in "
        f"{duration_text(result.seconds)}, {result.jobs} at a time"
    )

