"""Reading an event log for a restore: choose the base and segments for a moment, check them, yield their events.

Everything is checked before the caller touches a database: the moment must lie in a restorable
range (else ``OutOfRange``, exit 3, naming the ranges); the base's and each needed segment's size
and CRC-64 must match the catalog (else ``LogDamaged``). The open segment of a running (or
crashed) follower counts up to its last whole record.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bson.raw_bson import RawBSONDocument
from bson.timestamp import Timestamp

from analytiq_data.backup.files.crc64 import crc64
from analytiq_data.backup.log.base import check_base
from analytiq_data.backup.log.catalog import SEGMENTS, Catalog, Range, load_catalog, when_text
from analytiq_data.backup.log.format import token_out, ts_doc, ts_of
from analytiq_data.backup.log.segment import Content, LogDamaged, parse, read_file, segment_name
from analytiq_data.errors import ConfigurationError


class OutOfRange(ConfigurationError):
    """The moment is outside every restorable range of the log (or inside a gap): nothing is touched (exit 3)."""


@dataclass(frozen=True)
class LogPlan:
    """What restoring to ``moment`` reads: the base (its file and T) and the segments after it, checked."""

    catalog: Catalog
    moment: Timestamp
    range: Range
    base_path: Path
    segments: tuple[Mapping[str, Any], ...]
    tail: Content | None = None  # the open segment, read once

    @property
    def base_at(self) -> Timestamp:
        """Return the base's T."""
        at = ts_of(self.range.base["at"])
        assert at is not None
        return at

    def events(self) -> Iterator[list[RawBSONDocument]]:
        """Yield each needed segment's events in order (closed ones read again, checked against the catalog)."""
        for entry in self.segments:
            if self.tail is not None and entry.get("open"):
                yield self.tail.events
                continue
            yield _read_checked(self.catalog, entry).events


def read_tail(catalog: Catalog) -> tuple[Content | None, dict[str, Any] | None]:
    """Return the open segment (up to its last whole record) and its entry for the ranges, if there is one."""
    path = catalog.folder / SEGMENTS / segment_name(catalog.next_seq, open_=True)
    if not path.exists():
        return None, None
    try:
        content = parse(path.read_bytes(), str(path))
    except (OSError, LogDamaged):
        return None, None
    last = content.last
    entry = {
        "seq": catalog.next_seq,
        "file": f"{SEGMENTS}/{path.name}",
        "open": True,
        "after": ts_doc(content.after.at),
        "after_token": token_out(content.after.token),
        "last": ts_doc(last.at),
        "token": token_out(last.token),
        "covered": ts_doc(content.covered),
        "events": len(content.events),
    }
    return content, entry


def log_ranges(folder: str | Path) -> tuple[Catalog, list[Range]]:
    """Return the catalog of ``folder`` and its restorable ranges (the open segment included)."""
    catalog = load_catalog(folder)
    _, tail = read_tail(catalog)
    return catalog, catalog.ranges(tail)


def present_ranges(catalog: Catalog, ranges: list[Range]) -> tuple[list[Range], list[str]]:
    """Return ``ranges`` as far as their files are there, and one phrase per file that is not.

    A range whose base is missing (or of another size than the catalog says) is left out; a range is
    cut before its first closed segment that is missing or of another size. One ``stat`` per file:
    checksums are checked by the restore itself (``plan_restore``).
    """
    out: list[Range] = []
    problems: list[str] = []
    for found in ranges:
        trouble = _missing(catalog, found.base, "base")
        if trouble:
            problems.append(f"{trouble}: nothing {found.describe()} can be restored")
            continue
        kept: list[Mapping[str, Any]] = []
        for seg in found.segments:
            trouble = None if seg.get("open") else _missing(catalog, seg, "segment")
            if trouble:
                end = ts_of(kept[-1]["covered"]) if kept else found.start
                assert end is not None
                found = Range(found.start, end, found.base, tuple(kept))
                problems.append(f"{trouble}: the range from {when_text(found.start)} ends at {when_text(end)}")
                break
            kept.append(seg)
        out.append(found)
    return out, problems


def _missing(catalog: Catalog, entry: Mapping[str, Any], what: str) -> str | None:
    """Return why the file of a catalog entry cannot be used (missing, another size), None if it is there."""
    path = catalog.folder / str(entry["file"])
    try:
        size = path.stat().st_size
    except OSError:
        return f"{what} {entry['file']} is missing"
    if "bytes" in entry and size != int(entry["bytes"]):
        return f"{what} {entry['file']} has {size:,} bytes, the catalog says {int(entry['bytes']):,}"
    return None


def describe_ranges(ranges: list[Range]) -> str:
    """Return the ranges as one phrase for an error line."""
    return "; ".join(r.describe() for r in ranges) if ranges else "nothing (no base yet)"


def plan_restore(folder: str | Path, moment: Timestamp) -> LogPlan:
    """Return the checked plan for restoring to ``moment``; OutOfRange or LogDamaged (nothing touched) if it cannot."""
    catalog = load_catalog(folder)
    tail_content, tail = read_tail(catalog)
    ranges = catalog.ranges(tail)
    fitting = [r for r in ranges if r.covers(moment)]
    if not fitting:
        gaps = [g for g in catalog.gaps if (ts_of(g["from"]) or moment) < moment]
        why = " (the log has a gap there: history lost)" if gaps and any(r.end < moment for r in ranges) else ""
        raise OutOfRange(
            f"{when_text(moment)} is outside what the log in {catalog.folder} can restore{why}; "
            f"it covers {describe_ranges(ranges)}",
            hint="choose a moment inside a range (analytiq-db log ranges DIR)",
        )
    chosen = max(fitting, key=lambda r: r.start)  # the latest base: the fewest events to replay
    needed = []
    for seg in chosen.segments:
        if (ts_of(seg["after"]) or moment) >= moment:
            break
        needed.append(seg)
    base_path = check_base(catalog, dict(chosen.base))
    for seg in needed:
        if not seg.get("open"):
            _read_checked(catalog, seg)
    return LogPlan(catalog, moment, chosen, base_path, tuple(needed), tail_content)


def _read_checked(catalog: Catalog, entry: Mapping[str, Any]) -> Content:
    """Read a closed segment, checking its size and CRC-64 against the catalog and every record's CRC."""
    path = catalog.folder / str(entry["file"])
    hint = "restore to a moment before it (analytiq-db log ranges), or from another copy of the log"
    try:
        data = path.read_bytes()
    except OSError:
        raise LogDamaged(f"segment {path} is missing", hint=hint) from None
    if len(data) != int(entry["bytes"]) or f"{crc64(data):016x}" != entry["crc64"]:
        what = "truncated" if len(data) < int(entry["bytes"]) else "damaged"
        raise LogDamaged(f"segment {path} is {what} (its size or CRC-64 differs from the catalog)", hint=hint)
    content = parse(read_file(path), str(path))
    if content.torn or len(content.events) != int(entry["events"]):
        raise LogDamaged(f"segment {path} is damaged: {content.torn or 'its event count differs'}", hint=hint)
    return content
