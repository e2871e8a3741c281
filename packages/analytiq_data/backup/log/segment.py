"""Segment files: the open one appended to and fsynced, closed ones (plain or gzip) read and checked.

A segment is ``MAGIC`` then framed records (``format``): a header, then change events and marks.
The open segment (``seg-N.open``) is never compressed, so a torn tail is cut at a record boundary;
closing renames it (or writes ``seg-N.log.gz`` through a ``.tmp`` and a rename). Every step that
must survive a crash is fsynced, the directory too (``docs/reference/event-log-format.md``).
"""

from __future__ import annotations

import gzip
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import bson
from bson.raw_bson import RawBSONDocument
from bson.timestamp import Timestamp

from analytiq_data.backup.consistent.clock import RAW
from analytiq_data.backup.files.crc64 import crc64
from analytiq_data.backup.log.format import MAGIC, Scan, frame, scan, token_out, ts_doc
from analytiq_data.errors import ConfigurationError

OPEN_SUFFIX = ".open"
TMP_SUFFIX = ".tmp"


class LogDamaged(ConfigurationError):
    """A file of the log is damaged or missing: nothing is restored from it (exit 3)."""


def segment_name(seq: int, *, gzip_: bool = False, open_: bool = False) -> str:
    """Return the file name of segment ``seq``: ``seg-000001.log`` (``.log.gz``, or ``.open`` while written)."""
    if open_:
        return f"seg-{seq:06d}{OPEN_SUFFIX}"
    return f"seg-{seq:06d}.log" + (".gz" if gzip_ else "")


def fsync_path(path: Path) -> None:
    """Make a file's content durable, or a directory's entries (a file created, renamed or removed in it)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_durably(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` atomically and durably: write ``.tmp``, fsync, rename, fsync the directory."""
    tmp = path.with_name(path.name + TMP_SUFFIX)
    with open(tmp, "wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, path)
    fsync_path(path.parent)


@dataclass(frozen=True)
class Position:
    """Where the log stands: the cluster time of the last event kept (or a base's T) and its resume token."""

    at: Timestamp
    token: Mapping[str, Any] | None = None


@dataclass
class Content:
    """A segment as read: its header, events (raw), marks, and where its whole records end."""

    header: Mapping[str, Any]
    events: list[RawBSONDocument] = field(default_factory=list)
    covered: Timestamp | None = None
    raw_bytes: int = 0
    end: int = 0
    torn: str | None = None

    @property
    def after(self) -> Position:
        """Return the position this segment continues from."""
        return Position(self.header["after"], self.header.get("after_token"))

    @property
    def last(self) -> Position:
        """Return the position after its last event (its ``after`` when it holds none)."""
        if not self.events:
            return self.after
        return Position(self.events[-1]["clusterTime"], dict(bson.decode(self.events[-1]["_id"].raw)))


def parse(data: bytes, where: str) -> Content:
    """Return the content of a segment's bytes (plain framing), stopping at a torn tail; LogDamaged if not a segment."""
    if not data.startswith(MAGIC):
        raise LogDamaged(f"{where} is not a segment of this event log (bad magic)", hint="restore from another log")
    found: Scan = scan(data, len(MAGIC))
    if not found.payloads:
        raise LogDamaged(f"{where} has no readable header ({found.torn})", hint="the file is damaged")
    header = bson.decode(found.payloads[0])
    content = Content(header, end=found.end, torn=found.torn)
    covered: Timestamp = header["after"]
    for payload in found.payloads[1:]:
        doc = bson.decode(payload, codec_options=RAW)
        if "mark" in doc:
            covered = max(covered, doc["mark"])
            continue
        content.events.append(doc)
        content.raw_bytes += len(payload)
        covered = max(covered, doc["clusterTime"])
    content.covered = covered
    return content


def read_file(path: Path) -> bytes:
    """Return a segment file's framed bytes (gunzipped for ``.gz``); LogDamaged if it cannot be read."""
    try:
        data = path.read_bytes()
        return gzip.decompress(data) if path.name.endswith(".gz") else data
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise LogDamaged(f"cannot read segment {path}: {exc}", hint="the file is damaged or missing") from exc


class SegmentWriter:
    """The open segment: records appended and fsynced; ``close`` renames (or gzips) it and returns its entry."""

    def __init__(self, folder: Path, seq: int, db: str, after: Position) -> None:
        self.folder, self.seq, self.after = folder, seq, after
        self.path = folder / segment_name(seq, open_=True)
        self.opened = time.monotonic()
        self.events = 0
        self.raw_bytes = 0
        self.first: Timestamp | None = None
        self.last = after
        self.covered = after.at
        header = {"segment": 1, "db": db, "seq": seq, "after": after.at, "after_token": after.token}
        self._file = open(self.path, "wb")  # kept open while the segment is written
        self._file.write(MAGIC + frame(bson.encode(header)))
        self._sync()
        fsync_path(folder)
        self.size = self._file.tell()

    def _sync(self) -> None:
        self._file.flush()
        os.fsync(self._file.fileno())

    def write(self, events: Sequence[RawBSONDocument], mark: Timestamp | None = None) -> None:
        """Append ``events`` (and a mark: every event up to ``mark`` is in the file), without fsync yet."""
        parts = [frame(bytes(e.raw)) for e in events]
        last, covered = self.last, self.covered
        if events:
            last = Position(events[-1]["clusterTime"], dict(bson.decode(events[-1]["_id"].raw)))
            covered = max(covered, last.at)
        if mark is not None and mark > covered:
            parts.append(frame(bson.encode({"mark": mark, "token": None})))
            covered = mark
        self._file.write(b"".join(parts))
        # counted once written: an exception before leaves the counters saying what the file holds
        if events:
            self.first = self.first or events[0]["clusterTime"]
            self.events += len(events)
            self.raw_bytes += sum(len(e.raw) for e in events)
        self.last, self.covered, self.size = last, covered, self._file.tell()

    def sync(self) -> None:
        """Make what was written durable (fsync): only now does it count."""
        self._sync()

    def close(self, compress: bool) -> dict[str, Any]:
        """Close the file durably under its final name (gzip: ``.log.gz``); return its catalog entry."""
        self._sync()
        self._file.close()
        final = self.folder / segment_name(self.seq, gzip_=compress)
        if compress:
            write_durably(final, gzip.compress(self.path.read_bytes(), compresslevel=6))
        else:
            os.replace(self.path, final)
            fsync_path(self.folder)
        return self.entry(final)

    def abandon(self) -> None:
        """Close the file without publishing it (it stays ``.open``, recovered by the next run)."""
        if not self._file.closed:
            self._file.close()

    def entry(self, final: Path) -> dict[str, Any]:
        """Return the catalog entry of this segment, stored as ``final``."""
        data = final.read_bytes()
        return {
            "seq": self.seq,
            "file": f"{final.parent.name}/{final.name}",
            "gzip": final.name.endswith(".gz"),
            "after": ts_doc(self.after.at),
            "after_token": token_out(self.after.token),
            "first": ts_doc(self.first),
            "last": ts_doc(self.last.at),
            "covered": ts_doc(self.covered),
            "token": token_out(self.last.token),
            "events": self.events,
            "bytes": len(data),
            "raw_bytes": self.raw_bytes,
            "crc64": f"{crc64(data):016x}",
        }


def entry_of(content: Content, seq: int, path: Path, data: bytes) -> dict[str, Any]:
    """Return the catalog entry of a segment recovered from disk (its ``content``, stored bytes ``data``)."""
    last = content.last
    return {
        "seq": seq,
        "file": f"{path.parent.name}/{path.name}",
        "gzip": path.name.endswith(".gz"),
        "after": ts_doc(content.after.at),
        "after_token": token_out(content.after.token),
        "first": ts_doc(content.events[0]["clusterTime"]) if content.events else None,
        "last": ts_doc(last.at),
        "covered": ts_doc(content.covered),
        "token": token_out(last.token),
        "events": len(content.events),
        "bytes": len(data),
        "raw_bytes": content.raw_bytes,
        "crc64": f"{crc64(data):016x}",
    }
