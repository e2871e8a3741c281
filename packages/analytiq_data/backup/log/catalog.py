"""The catalog of an event log (``DIR/catalog.json``): bases, closed segments and gaps; the restorable ranges.

The catalog changes only by ``write_durably`` (temp file, fsync, rename, fsync the directory), so a
crash leaves the old or the new one. Ranges are computed, never stored: a range starts at a base's
T and follows the segments that chain from it (each one's ``after`` is the previous one's ``last``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bson.timestamp import Timestamp

from analytiq_data.backup.consistent.point import ts_text
from analytiq_data.backup.log.format import FORMAT_VERSION, MAX_INC, token_in, ts_doc, ts_of
from analytiq_data.backup.log.segment import LogDamaged, Position, write_durably
from analytiq_data.errors import ConfigurationError

CATALOG = "catalog.json"
FORMAT_NAME = "analytiq-event-log"
BASES = "bases"
SEGMENTS = "segments"


def now_text() -> str:
    """Return the current wall time as ISO-8601 (UTC), for the catalog's records."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def when_text(ts: Timestamp) -> str:
    """Return a cluster time for people: ``Timestamp(s, i) (yyyy-mm-dd HH:MM:SS UTC)``; a moment at the end
    of a second (a wall time given to ``--at``, or just before a second) as that time, not its sentinel."""
    if ts.inc == MAX_INC:
        return f"{ts.as_datetime():%Y-%m-%d %H:%M:%S} UTC (the end of that second)"
    return f"{ts_text(ts)} ({ts.as_datetime():%Y-%m-%d %H:%M:%S} UTC)"


@dataclass(frozen=True)
class Range:
    """A span of cluster times the log can restore: from a base's T (``start``) to ``end``, both included."""

    start: Timestamp
    end: Timestamp
    base: Mapping[str, Any]
    segments: tuple[Mapping[str, Any], ...] = ()

    def covers(self, moment: Timestamp) -> bool:
        """Return whether ``moment`` lies in this range."""
        return self.start <= moment <= self.end

    def describe(self) -> str:
        """Return the range as one phrase: ``from … to …``."""
        return f"from {when_text(self.start)} to {when_text(self.end)}"

    def to_json(self) -> dict[str, Any]:
        """Return the range as JSON data."""
        return {
            "start": ts_doc(self.start),
            "end": ts_doc(self.end),
            "start_text": ts_text(self.start),
            "end_text": ts_text(self.end),
            "start_wall": self.start.as_datetime().isoformat(),
            "end_wall": self.end.as_datetime().isoformat(),
            "base": self.base["file"],
            "segments": [s["seq"] for s in self.segments],
            "events": sum(int(s["events"]) for s in self.segments),
        }


#: Where a chain of segments ends: the last segment's ``last`` cluster time and resume token.
ChainEnd = tuple[Timestamp | None, dict[str, Any] | None]


@dataclass
class Catalog:
    """The catalog of one log directory, as read; ``save`` replaces the file durably.

    The chains (base, then the segments that follow it) are computed once per change of the
    catalog and kept: a follower asks for its range every second, and a log holds thousands of
    segments after a few weeks.
    """

    folder: Path
    data: dict[str, Any] = field(default_factory=dict)
    _chains: tuple[tuple[int, int], list[tuple[Range, ChainEnd]]] | None = field(
        default=None, repr=False, compare=False
    )

    @property
    def bases(self) -> list[dict[str, Any]]:
        """Return the base entries, oldest T first."""
        return sorted(self.data.setdefault("bases", []), key=lambda b: ts_of(b["at"]) or Timestamp(0, 0))

    @property
    def segments(self) -> list[dict[str, Any]]:
        """Return the closed segments' entries in ``seq`` order."""
        return sorted(self.data.setdefault("segments", []), key=lambda s: int(s["seq"]))

    @property
    def gaps(self) -> list[dict[str, Any]]:
        """Return the recorded gaps (history lost)."""
        return list(self.data.setdefault("gaps", []))

    @property
    def next_seq(self) -> int:
        """Return the sequence number of the next segment."""
        return max((int(s["seq"]) for s in self.segments), default=0) + 1

    def save(self) -> None:
        """Write the catalog durably (temp file, fsync, rename, fsync the directory)."""
        text = json.dumps(self.data, indent=1, sort_keys=False) + "\n"
        write_durably(self.folder / CATALOG, text.encode())

    def add_base(self, entry: dict[str, Any]) -> None:
        """Record a new base; it closes any open gap (the gap ends at the base's T)."""
        for gap in self.data.setdefault("gaps", []):
            if gap.get("to") is None:
                gap["to"] = entry["at"]
        self.data.setdefault("bases", []).append(entry)
        self.save()

    def add_segment(self, entry: dict[str, Any]) -> None:
        """Record a closed segment."""
        self.data.setdefault("segments", []).append(entry)
        self.save()

    def add_gap(self, start: Timestamp, reason: str) -> None:
        """Record that history from ``start`` on is lost (until the next base)."""
        self.data.setdefault("gaps", []).append(
            {"from": ts_doc(start), "to": None, "reason": reason, "recorded": now_text()}
        )
        self.save()

    def open_gap(self) -> dict[str, Any] | None:
        """Return the gap not yet closed by a new base, if any."""
        return next((g for g in self.gaps if g.get("to") is None), None)

    def ranges(self, tail: Mapping[str, Any] | None = None) -> list[Range]:
        """Return the restorable ranges, one per base (``tail``: the open segment's entry, if any)."""
        out = []
        for found, end in self._chained():
            if tail is not None and (ts_of(tail["after"]), token_in(tail.get("after_token"))) == end:
                covered = ts_of(tail["covered"]) or found.end
                found = Range(found.start, max(found.end, covered), found.base, (*found.segments, dict(tail)))
            out.append(found)
        return sorted(out, key=lambda r: (r.start, r.end))

    def _chained(self) -> list[tuple[Range, ChainEnd]]:
        """Return each base's chain of closed segments and where it ends (computed once per catalog change)."""
        key = (len(self.data.setdefault("bases", [])), len(self.data.setdefault("segments", [])))
        if self._chains is None or self._chains[0] != key:
            segments = self.segments
            self._chains = (key, [_chain(base, segments) for base in self.bases])
        return self._chains[1]

    def end_of_newest(self, tail: Mapping[str, Any] | None = None) -> tuple[Position, Range] | None:
        """Return where following continues (the newest base's chain end) and that range; None without a base."""
        ranges = self.ranges(tail)
        if not ranges:
            return None
        newest = max(ranges, key=lambda r: r.start)
        if newest.segments:
            last = newest.segments[-1]
            return Position(ts_of(last["last"]) or newest.start, token_in(last.get("token"))), newest
        return Position(newest.start), newest


def _chain(base: Mapping[str, Any], segments: Sequence[Mapping[str, Any]]) -> tuple[Range, ChainEnd]:
    """Return the range of ``base`` (its T, then each segment whose ``after`` is the chain's position) and its end."""
    start = ts_of(base["at"])
    assert start is not None
    position: ChainEnd = (start, None)
    end = start
    chained: list[Mapping[str, Any]] = []
    for seg in segments:
        after = (ts_of(seg["after"]), token_in(seg.get("after_token")))
        if after != position:
            continue
        chained.append(seg)
        position = (ts_of(seg["last"]), token_in(seg.get("token")))
        covered = ts_of(seg["covered"])
        end = max(end, covered or end)
    return Range(start, end, base, tuple(chained)), position


def load_catalog(folder: str | Path, *, create_for: tuple[str, str] | None = None) -> Catalog:
    """Read ``DIR/catalog.json``; with ``create_for=(db, source)`` start an empty one if there is none.

    Raises ConfigurationError when DIR has no catalog (and none is to be created) and LogDamaged
    when the catalog cannot be read, is of another format, or belongs to another database.
    """
    path = Path(folder)
    file = path / CATALOG
    if not file.exists():
        if create_for is None:
            raise ConfigurationError(
                f"{path} is not an event log (no {CATALOG})", hint="give the directory analytiq-db follow --to wrote"
            )
        db, source = create_for
        fresh = {"format": FORMAT_NAME, "version": FORMAT_VERSION, "db": db, "source": source}
        return Catalog(path, {**fresh, "bases": [], "segments": [], "gaps": []})
    try:
        data: Any = json.loads(file.read_text())
    except (OSError, ValueError) as exc:
        raise LogDamaged(f"cannot read {file}: {exc}", hint="the catalog is damaged") from exc
    if not isinstance(data, dict) or data.get("format") != FORMAT_NAME:
        raise LogDamaged(f"{file} is not the catalog of an analytiq-db event log", hint="check the directory")
    if int(data.get("version", 0)) > FORMAT_VERSION:
        raise ConfigurationError(
            f"{file} is format version {data.get('version')}, newer than this tool reads ({FORMAT_VERSION})",
            hint="upgrade analytiq-db",
        )
    if create_for is not None and data.get("db") != create_for[0]:
        raise ConfigurationError(
            f"{path} holds the log of database {data.get('db')!r}, not {create_for[0]!r}",
            hint="give another --to directory",
        )
    return Catalog(path, data)
