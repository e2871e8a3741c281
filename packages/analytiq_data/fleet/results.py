"""Typed results of a command run over many databases: one record per database, and the whole.

Each database ends in one ``Outcome``: ``ok`` (done: at the target, read, dumped…), ``ahead``
(newer than the code: nothing done, as one ``up`` does), ``failed`` (with its one-line cause and
exit code), ``interrupted`` (Ctrl-C: stopped at a safe point) or ``skipped`` (never started: an
earlier database failed, or a stop was asked for). The whole run's exit code is the worst of them
(``SEVERITY``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from analytiq_data.errors import AnalytiqError, ExitCode, Interrupted, one_line
from analytiq_data.uri import redact_text


class Outcome(StrEnum):
    """How one database ended."""

    OK = "ok"
    AHEAD = "ahead"
    FAILED = "failed"
    INTERRUPTED = "interrupted"
    SKIPPED = "skipped"


#: Exit codes from the mildest to the worst: the run's code is its databases' worst.
SEVERITY = (
    ExitCode.OK,
    ExitCode.FAILURE,
    ExitCode.LOCK,
    ExitCode.CONFIGURATION,
    ExitCode.CONNECTION,
    ExitCode.VERIFICATION,
    ExitCode.MIGRATION,
    ExitCode.IO,
    ExitCode.INTERNAL,
    ExitCode.INTERRUPTED,
)


def worst(codes: Sequence[int]) -> int:
    """Return the worst of ``codes`` by ``SEVERITY`` (0 for none); an unknown code counts as internal."""
    rank = {int(code): i for i, code in enumerate(SEVERITY)}
    found = [c if c in rank else int(ExitCode.INTERNAL) for c in codes]
    return max(found, key=lambda c: rank[c], default=0)


@dataclass(frozen=True)
class DatabaseResult:
    """What one database's run did: its ``outcome``; ``version`` after it (at the failure, for a failed
    one; None when unknown); ``from_version``; the steps applied; the one-line ``error`` and
    ``exit_code`` of a failure; ``seconds``; and ``detail``, the verb's own result (a RunResult,
    StatusResult, …) when it ended well."""

    database: str
    outcome: Outcome
    version: int | None = None
    from_version: int | None = None
    steps: int = 0
    error: str | None = None
    exit_code: int = 0
    seconds: float = 0.0
    detail: Any = field(default=None, compare=False)

    def to_json(self) -> dict[str, Any]:
        """Return the record as plain data (the verb's own result under ``result``)."""
        data: dict[str, Any] = {
            "database": self.database,
            "outcome": self.outcome.value,
            "version": self.version,
            "from_version": self.from_version,
            "steps": self.steps,
            "error": self.error,
            "exit_code": self.exit_code,
            "seconds": round(self.seconds, 3),
        }
        to_json = getattr(self.detail, "to_json", None)
        if callable(to_json):
            data["result"] = to_json()
        return data


class FleetFailed(AnalytiqError):
    """Some databases of a run over many failed (or were interrupted); carries the whole result."""

    def __init__(self, result: FleetResult) -> None:
        unfinished = [r for r in result.databases if r.outcome not in (Outcome.OK, Outcome.AHEAD)]
        first = next((r for r in unfinished if r.outcome is not Outcome.SKIPPED), None)
        shown = f": first {first.database}: {first.error}" if first is not None else ""
        super().__init__(
            f"{len(unfinished)} of {len(result.databases)} databases did not finish{shown}",
            hint="fix what the error says and run the same command again: databases at the target are left as they are",
        )
        self.result = result
        self.exit_code = ExitCode(result.exit_code)


@dataclass(frozen=True)
class FleetResult:
    """A verb run over many databases: one ``DatabaseResult`` per selected database (selection
    order), how many ran at once (``jobs``, and ``jobs_why``), whether a stop was asked for, the
    databases matching the selection that appeared while it ran (not worked on: run again), and
    the selection said for people."""

    verb: str
    databases: tuple[DatabaseResult, ...]
    jobs: int
    jobs_why: str = ""
    seconds: float = 0.0
    selection: str = ""
    stopped: bool = False
    appeared: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def exit_code(self) -> int:
        """Return the worst exit code of the databases (0 when every one ended well or was ahead)."""
        return worst([r.exit_code for r in self.databases])

    @property
    def ok(self) -> bool:
        """Return whether no database failed, was interrupted or skipped."""
        return all(r.outcome in (Outcome.OK, Outcome.AHEAD) for r in self.databases)

    def counts(self) -> dict[str, int]:
        """Return how many databases ended in each outcome (only those that occur)."""
        found = Counter(r.outcome.value for r in self.databases)
        return {o.value: found[o.value] for o in Outcome if found[o.value]}

    def by_outcome(self, outcome: Outcome) -> tuple[DatabaseResult, ...]:
        """Return the databases that ended in ``outcome``."""
        return tuple(r for r in self.databases if r.outcome is outcome)

    def raise_for_failure(self) -> None:
        """Raise FleetFailed (its exit code the worst) unless every database ended well or was ahead."""
        if not self.ok:
            raise FleetFailed(self)

    def to_json(self) -> dict[str, Any]:
        """Return the run as plain data: a record per database, and the counts."""
        return {
            "verb": self.verb,
            "selection": self.selection,
            "jobs": self.jobs,
            "jobs_why": self.jobs_why,
            "seconds": round(self.seconds, 3),
            "stopped": self.stopped,
            "counts": self.counts(),
            "exit_code": self.exit_code,
            "appeared": list(self.appeared),
            "notes": list(self.notes),
            "databases": [r.to_json() for r in self.databases],
        }


def failure(database: str, exc: BaseException, seconds: float, version: int | None = None) -> DatabaseResult:
    """Return the record of a database whose run raised ``exc`` (one line; internal errors named as such)."""
    if isinstance(exc, AnalytiqError):
        outcome = Outcome.INTERRUPTED if isinstance(exc, Interrupted) else Outcome.FAILED
        line, code = exc.user_line(), int(exc.exit_code)
    else:
        outcome = Outcome.FAILED
        line, code = one_line(f"internal error: {type(exc).__name__}: {exc}")[:200], int(ExitCode.INTERNAL)
    return DatabaseResult(database, outcome, version, error=redact_text(line), exit_code=code, seconds=seconds)
