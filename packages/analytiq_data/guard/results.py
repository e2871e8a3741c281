"""Typed results of the gate: findings, the outcome of a check, the entries of a lockfile."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from analytiq_data.errors import CheckFailed

FindingKind = Literal[
    "code_changed",  # an applied (or locked) version's code differs from the record
    "class_mismatch",  # the class at a version is not the one recorded there (list reordered, class inserted)
    "database_ahead",  # the database applied a version the code does not have
    "lockfile_ahead",  # the lockfile locks a version the code does not have (migration removed)
    "dirty",  # a step declared idempotent = False failed or was interrupted outside a transaction
    "pending",  # a version in the code not yet applied to the database
    "unlocked",  # a version in the code not yet in the lockfile
    "unverified",  # a version whose class or code cannot be compared (no record, no source)
    "running",  # a migration run holds the lock right now
]

# Kinds that are never a failure of the gate: they only inform.
NOTE_KINDS: frozenset[str] = frozenset({"unverified", "running"})
PENDING_KINDS: frozenset[str] = frozenset({"pending", "unlocked"})


@dataclass(frozen=True)
class Finding:
    """One disagreement between the code and the database (or lockfile), for one version."""

    kind: FindingKind
    version: int
    name: str  # the class in the code, or the recorded class when the code has none there
    problem: str
    action: str
    failing: bool

    @property
    def level(self) -> str:
        """Return ``problem``, ``pending`` or ``note``: how the command line labels the finding."""
        if self.failing:
            return "problem"
        return "pending" if self.kind in PENDING_KINDS else "note"

    @property
    def who(self) -> str:
        """Return ``version N (ClassName)`` (or ``version N`` when no class is known)."""
        return f"version {self.version} ({self.name})" if self.name else f"version {self.version}"

    @property
    def line(self) -> str:
        """Return the finding as one line: version, class, what is wrong, what to do."""
        return f"{self.who}: {self.problem} — {self.action}"

    def to_json(self) -> dict[str, Any]:
        """Return the finding as plain data."""
        return {
            "kind": self.kind,
            "version": self.version,
            "class": self.name,
            "failing": self.failing,
            "level": self.level,
            "problem": self.problem,
            "action": self.action,
            "line": self.line,
        }


@dataclass(frozen=True)
class CheckResult:
    """What ``check`` found, comparing the code with a database or with a lockfile.

    ``version`` is the database's recorded version (or the lockfile's newest locked version);
    ``head`` is the code's newest version.
    """

    source: Literal["database", "lockfile"]
    target: str  # the database name, or the lockfile path
    version: int
    head: int
    findings: tuple[Finding, ...]
    fail_on_pending: bool = False

    @property
    def ok(self) -> bool:
        """Return whether the gate passes (no failing finding)."""
        return not self.failures

    @property
    def failures(self) -> tuple[Finding, ...]:
        """Return the findings that fail the gate."""
        return tuple(f for f in self.findings if f.failing)

    @property
    def pending(self) -> tuple[Finding, ...]:
        """Return the findings about versions not yet applied (or not yet locked)."""
        return tuple(f for f in self.findings if f.kind in PENDING_KINDS)

    def where(self) -> str:
        """Return ``database NAME`` or ``lockfile PATH``."""
        return f"{self.source} {self.target}"

    def summary(self) -> str:
        """Return the one-line verdict: ``ok: …`` with the version, or how many problems."""
        if self.source == "database":
            state = f"{self.where()} is at version {self.version}; the code's newest is {self.head}"
        else:
            state = f"{self.where()} locks versions 1–{self.version}; the code's newest is {self.head}"
            if self.version == 0:
                state = f"{self.where()} locks no version; the code's newest is {self.head}"
        if not self.ok:
            count = len(self.failures)
            return f"{count} problem{'s' if count != 1 else ''}: {state}"
        pending = len(self.pending)
        word = "pending" if self.source == "database" else "not locked"
        return f"ok: {state}" + (f" ({pending} {word})" if pending else "")

    def raise_for_failure(self) -> None:
        """Raise CheckFailed naming the first failing finding (and how many more) when the gate fails."""
        if self.ok:
            return
        first = self.failures[0]
        more = f" (and {len(self.failures) - 1} more)" if len(self.failures) > 1 else ""
        raise CheckFailed(f"check failed for {self.where()}: {first.who}: {first.problem}{more}", hint=first.action)

    def to_json(self) -> dict[str, Any]:
        """Return the result as plain data."""
        return {
            "ok": self.ok,
            "source": self.source,
            "target": self.target,
            "version": self.version,
            "head": self.head,
            "fail_on_pending": self.fail_on_pending,
            "summary": self.summary(),
            "problems": len(self.failures),
            "pending": [f.version for f in self.pending],
            "findings": [f.to_json() for f in self.findings],
        }


@dataclass(frozen=True)
class LockEntry:
    """One version of a lockfile: the class at that position, its description and code checksum."""

    version: int
    name: str
    description: str
    checksum: str | None

    def to_json(self) -> dict[str, Any]:
        """Return the entry as it is written in the lockfile."""
        return {"version": self.version, "class": self.name, "description": self.description, "checksum": self.checksum}


@dataclass(frozen=True)
class LockResult:
    """What ``lock`` wrote: the path, the entries, and whether the file changed.

    ``overridden`` holds the disagreements with the previous lockfile that ``force`` overrode.
    """

    path: str
    entries: tuple[LockEntry, ...]
    changed: bool
    overridden: tuple[Finding, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """Return the result as plain data."""
        return {
            "path": self.path,
            "changed": self.changed,
            "versions": len(self.entries),
            "entries": [e.to_json() for e in self.entries],
            "overridden": [f.to_json() for f in self.overridden],
        }
