"""What a backup returns: one report per collection and view, and the run as a whole."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from analytiq_data.backup.consistent.point import PointInTime
from analytiq_data.backup.digest import Digest
from analytiq_data.backup.pacing import ConcurrencyReport
from analytiq_data.errors import AnalytiqError, ExitCode, VerificationError
from analytiq_data.text import first_few

#: ``CollectionReport.kind`` of a view (``plan.Kind.VIEW``): views are reported apart from collections.
VIEW_KIND = "view"


@dataclass(frozen=True)
class CollectionReport:
    """One namespace: what was copied (or planned, or compared) and whether it verified.

    ``verified`` is True when count, content hash, indexes and options all match, False when any
    differs (``differences`` says what), None when not checked (``--no-verify``, ``--dry-run``).
    """

    name: str
    kind: str
    documents: int = 0
    nbytes: int = 0
    seconds: float = 0.0
    ranges: int = 1
    resumed_ranges: int = 0
    indexes: int = 0
    source: Digest | None = None
    destination: Digest | None = None
    verified: bool | None = None
    differences: tuple[str, ...] = ()
    note: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return the report as JSON-ready data."""
        data: dict[str, Any] = {
            "name": self.name,
            "kind": self.kind,
            "documents": self.documents,
            "bytes": self.nbytes,
            "seconds": round(self.seconds, 3),
            "ranges": self.ranges,
            "resumed_ranges": self.resumed_ranges,
            "indexes": self.indexes,
            "verified": self.verified,
            "differences": list(self.differences),
        }
        for side, digest in (("source", self.source), ("destination", self.destination)):
            if digest is not None:
                data[side] = {"count": digest.count, "bytes": digest.nbytes, "hash": digest.hex}
        if self.note:
            data["note"] = self.note
        return data


@dataclass(frozen=True)
class BackupResult:
    """A whole run: ``mode`` is ``copy``, ``dry-run`` or ``verify-only``.

    ``concurrency`` (a copy only) says how many inserts were kept in flight: the levels the
    pacer chose within ``1..--parallel`` from what the destination absorbed.
    """

    mode: str
    src_db: str
    dest_db: str
    source: str  # redacted URI
    destination: str  # redacted URI
    collections: tuple[CollectionReport, ...] = ()
    views: tuple[CollectionReport, ...] = ()
    seconds: float = 0.0
    resumed: bool = False
    notes: tuple[str, ...] = field(default=())
    concurrency: ConcurrencyReport | None = None
    point_in_time: PointInTime | None = None  # --consistent: the cluster time T the copy equals the source at

    @classmethod
    def of(cls, reports: Iterable[CollectionReport], **fields: Any) -> BackupResult:
        """Return the result of a run whose per-namespace ``reports`` are in any order (views set apart)."""
        reports = tuple(reports)
        collections = tuple(r for r in reports if r.kind != VIEW_KIND)
        views = tuple(r for r in reports if r.kind == VIEW_KIND)
        return cls(collections=collections, views=views, **fields)

    @property
    def reports(self) -> tuple[CollectionReport, ...]:
        """Return every report, collections then views."""
        return self.collections + self.views

    @property
    def documents(self) -> int:
        """Return the documents copied (or planned, or compared) in all collections."""
        return sum(r.documents for r in self.collections)

    @property
    def nbytes(self) -> int:
        """Return the bytes copied (or planned, or compared) in all collections."""
        return sum(r.nbytes for r in self.collections)

    @property
    def verified(self) -> bool | None:
        """Return True if everything verified, False if anything differs, None if nothing was checked."""
        states = [r.verified for r in self.reports]
        if any(s is False for s in states):
            return False
        if states and all(s is True for s in states):
            return True
        return None

    @property
    def differences(self) -> list[str]:
        """Return every difference found, each prefixed with its namespace."""
        return [f"{r.name}: {d}" for r in self.reports for d in r.differences]

    def to_dict(self) -> dict[str, Any]:
        """Return the run as JSON-ready data."""
        return {
            "mode": self.mode,
            "source": {"uri": self.source, "db": self.src_db},
            "destination": {"uri": self.destination, "db": self.dest_db},
            "resumed": self.resumed,
            "seconds": round(self.seconds, 3),
            "documents": self.documents,
            "bytes": self.nbytes,
            "verified": self.verified,
            "ok": self.verified is not False,
            "collections": [r.to_dict() for r in self.collections],
            "views": [r.to_dict() for r in self.views],
            "differences": self.differences,
            "notes": list(self.notes),
            "concurrency": self.concurrency.to_dict() if self.concurrency else None,
            "point_in_time": self.point_in_time.to_dict() if self.point_in_time else None,
        }


class CopyMismatch(VerificationError):
    """The copy (or the compared database) differs from the source; ``result`` has the details."""

    def __init__(self, result: BackupResult, *, resumable: bool = False) -> None:
        diffs = result.differences
        shown = first_few(diffs, 3)
        hint = "see the summary above (or --json); the destination is not a faithful copy"
        if resumable:
            names = [c.name for c in result.reports if c.verified is False]
            hint = (
                f"the resume state is kept: run the same command with --resume to copy again only what differs "
                f"({', '.join(names[:5])}{', ...' if len(names) > 5 else ''})"
            )
        super().__init__(f"verification failed for {result.dest_db!r}: {shown}", hint=hint)
        self.result = result


class CopyFailed(AnalytiqError):
    """The copy stopped on a server error other than a lost connection."""

    exit_code = ExitCode.FAILURE
