"""``follow``: keep a base and the database's change events in DIR, durably, until stopped.

One task: take (or adopt) a base when DIR has none usable, then tail the database-level change
stream from the log's position into the open segment (append, fsync: only then durable), closing
a segment every ``segment_seconds`` or ``segment_mb``. A stop request (SIGTERM, Ctrl-C: the task
is cancelled) closes the open segment before the error goes on. Lost history becomes a recorded
gap and a ``HistoryLost`` error (exit 3). Engines never print: status goes to ``on_status``.
"""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bson.raw_bson import RawBSONDocument
from bson.timestamp import Timestamp

from analytiq_data.backup.consistent.clock import cluster_time, require_change_streams, token_time
from analytiq_data.backup.endpoints import Side
from analytiq_data.backup.files.server import open_server
from analytiq_data.backup.log.base import adopt_base, take_base
from analytiq_data.backup.log.catalog import SEGMENTS, Catalog, Range, load_catalog, when_text
from analytiq_data.backup.log.dirlock import holding, log_folder
from analytiq_data.backup.log.format import PREFIX_SIZE, ts_doc
from analytiq_data.backup.log.recover import recover
from analytiq_data.backup.log.segment import Position, SegmentWriter, fsync_dir
from analytiq_data.backup.log.stream import HistoryGone, open_at, poll, token_of
from analytiq_data.backup.log.testhooks import Pauses
from analytiq_data.backup.options import RESERVED_DATABASES
from analytiq_data.errors import ConfigurationError
from analytiq_data.progress import NULL_PROGRESS, Progress
from analytiq_data.settings import DEFAULT_TIMEOUT_S, validate_db_name
from analytiq_data.uri import hosts_of, redact_uri

HEARTBEAT = "follower.json"
DEFAULT_SEGMENT_SECONDS = 60.0
DEFAULT_SEGMENT_MB = 64.0
#: How often the status (and the heartbeat file) is refreshed, and an idle stretch marked.
STATUS_EVERY_S = 1.0


class HistoryLost(ConfigurationError):
    """The source no longer holds the changes after the log's last position: a gap is recorded (exit 3)."""


@dataclass(frozen=True)
class FollowOptions:
    """Follow database ``src_db`` at ``src_uri`` into log directory ``to``.

    ``segment_seconds``/``segment_mb`` close a segment when it is that old or large; ``gzip``
    compresses closed segments and the base; ``new_base`` takes a new base even if DIR has one
    (after a gap: required); ``adopt`` records a consistent archive already in DIR as the base;
    ``catch_up`` stops once everything up to the source's cluster time at start is durable.
    """

    src_uri: str
    src_db: str
    to: str
    segment_seconds: float = DEFAULT_SEGMENT_SECONDS
    segment_mb: float = DEFAULT_SEGMENT_MB
    gzip: bool = False
    new_base: bool = False
    adopt: str | None = None
    catch_up: bool = False
    timeout_s: float = DEFAULT_TIMEOUT_S

    def __post_init__(self) -> None:
        if not self.src_uri.startswith(("mongodb://", "mongodb+srv://")):
            raise ConfigurationError("invalid MongoDB URI for --src-uri", hint="e.g. --src-uri mongodb://host:27017")
        validate_db_name(self.src_db)
        if self.src_db.lower() in RESERVED_DATABASES:
            raise ConfigurationError(f"cannot follow the {self.src_db!r} database", hint="choose another --src")
        if not self.to:
            raise ConfigurationError("--to is empty", hint="e.g. --to /backups/app-log")
        if not self.segment_seconds > 0 or not self.segment_mb > 0:
            raise ConfigurationError("--segment-seconds and --segment-mb must be positive")
        if self.adopt and self.new_base:
            raise ConfigurationError("--adopt and --new-base both give the base", hint="pick one")


@dataclass(frozen=True)
class FollowStatus:
    """What a person watching the follower needs: lag, rate, the restorable range, the open segment."""

    state: str  # "base", "following", "stopped"
    lag_s: float | None
    events: int
    events_per_s: float
    durable: Timestamp | None
    restorable: Range | None
    segment: int
    segments_closed: int

    def to_json(self) -> dict[str, Any]:
        """Return the status as one JSON object (a ``--json`` status line)."""
        return {
            "state": self.state,
            "lag_s": self.lag_s,
            "events": self.events,
            "events_per_s": round(self.events_per_s, 1),
            "durable": ts_doc(self.durable),
            "restorable": self.restorable.to_json() if self.restorable else None,
            "segment": self.segment,
            "segments_closed": self.segments_closed,
        }


@dataclass(frozen=True)
class FollowResult:
    """How a follow run ended: events logged, segments closed, the restorable ranges, what recovery did."""

    to: str
    events: int
    segments_closed: int
    ranges: tuple[Range, ...]
    recovered: tuple[str, ...] = ()
    base: str | None = None

    def to_json(self) -> dict[str, Any]:
        """Return the result as JSON data."""
        return {
            "to": self.to,
            "events": self.events,
            "segments_closed": self.segments_closed,
            "ranges": [r.to_json() for r in self.ranges],
            "recovered": list(self.recovered),
            "base": self.base,
        }


StatusSink = Callable[[FollowStatus], None]


@dataclass
class _Run:
    """One run's moving parts: the catalog, the open segment, counters for the status."""

    options: FollowOptions
    catalog: Catalog
    side: Side
    on_status: StatusSink
    pauses: Pauses
    writer: SegmentWriter | None = None
    base_at: Timestamp | None = None
    events: int = 0
    closed: int = 0
    ticks: list[tuple[float, int]] = field(default_factory=list)

    def new_segment(self, after: Position) -> SegmentWriter:
        self.writer = SegmentWriter(self.catalog.folder / SEGMENTS, self.catalog.next_seq, self.options.src_db, after)
        return self.writer

    def close_segment(self) -> Position | None:
        """Close the open segment durably and catalogue it (an empty one is removed); return its end."""
        writer, self.writer = self.writer, None
        if writer is None:
            return None
        if writer.events == 0 and writer.covered == writer.after.at:
            writer.abandon()
            writer.path.unlink()
            fsync_dir(writer.path.parent)
            return writer.last
        entry = writer.close(self.options.gzip)
        self.pauses.hit("closing")
        self.catalog.add_segment(entry)
        if self.options.gzip:
            writer.path.unlink()
            fsync_dir(writer.path.parent)
        self.closed += 1
        return writer.last


async def follow(
    options: FollowOptions, progress: Progress = NULL_PROGRESS, on_status: StatusSink | None = None
) -> FollowResult:
    """Follow the source database into ``options.to`` until stopped (or caught up, with ``catch_up``).

    Raises HistoryLost (exit 3, gap recorded) when the source no longer holds the log's position,
    LogDamaged when DIR is damaged (nothing changed), ConfigurationError (standalone source, DIR of
    another database, not a directory), LockError (another follower writes to DIR: exit 5),
    DatabaseConnectionError. Cancelled (SIGTERM, Ctrl-C): the open segment is
    closed durably first.
    """
    folder = log_folder(options.to)
    with holding(folder):  # one follower per directory (LockError otherwise)
        catalog, recovered = _prepare(options, folder)
        for line in recovered:
            progress.note(f"recovery: {line}")
        async with open_server(options.src_uri, options.src_db, options.timeout_s) as (side, _):
            require_change_streams(side)
            run = _Run(options, catalog, side, on_status or (lambda _s: None), Pauses())
            base = await _ensure_base(run, progress)
            await _tail(run)
    return FollowResult(str(catalog.folder), run.events, run.closed, tuple(catalog.ranges()), tuple(recovered), base)


def _prepare(options: FollowOptions, folder: Path) -> tuple[Catalog, list[str]]:
    """Open (or start) the catalog of ``folder`` and make the directory whole after a crash (under its lock)."""
    source = hosts_of(options.src_uri) or redact_uri(options.src_uri)
    catalog = load_catalog(folder, create_for=(options.src_db, source))
    return catalog, recover(catalog, compress=options.gzip)


async def _ensure_base(run: _Run, progress: Progress) -> str | None:
    """Take or adopt a base when asked, when DIR has none, or refuse to go on past an open gap."""
    options, catalog = run.options, run.catalog
    if options.adopt:
        return str((await adopt_base(catalog, options.adopt))["file"])
    gap = catalog.open_gap()
    if gap is not None and not options.new_base:
        raise HistoryLost(
            f"the log in {catalog.folder} has a gap from {gap['from']['t']} on (history lost): it cannot continue",
            hint="take a new base: run follow again with --new-base",
        )
    if options.new_base or not catalog.bases:
        run.on_status(FollowStatus("base", None, 0, 0.0, None, None, 0, 0))
        entry = await take_base(
            catalog, options.src_uri, options.src_db, gzip=options.gzip, timeout_s=options.timeout_s, progress=progress
        )
        return str(entry["file"])
    return None


async def _tail(run: _Run) -> None:
    """Tail the change stream into segments until stopped, caught up, or the history is lost."""
    found = run.catalog.end_of_newest()
    assert found is not None
    position, _ = found
    run.base_at = None if position.token is not None else position.at
    until = await cluster_time(run.side) if run.options.catch_up else None
    writer = run.new_segment(position)
    try:
        await _stream_loop(run, position, until)
    except HistoryGone as exc:
        end = run.close_segment() or position
        run.catalog.add_gap(end.at, f"history lost ({exc.detail})")
        raise _lost_error(run, end.at) from None
    finally:
        if run.writer is writer or run.writer is not None:
            run.close_segment()


def _lost_error(run: _Run, since: Timestamp) -> HistoryLost:
    ranges = run.catalog.ranges()
    covered = "; ".join(r.describe() for r in ranges) or "nothing"
    return HistoryLost(
        f"history lost: the source no longer holds the changes after {when_text(since)} (its oplog moved on), "
        f"so nothing after that moment can be restored until a new base; the log covers {covered}; "
        "the gap is recorded in the catalog",
        hint=f"take a new base: analytiq-db follow --src {run.options.src_db} --to {run.catalog.folder} --new-base",
    )


async def _stream_loop(run: _Run, position: Position, until: Timestamp | None) -> None:
    side = run.side
    start_after = False
    while True:
        async with side.errors("opening the change stream"):
            stream = await open_at(side, position, start_after=start_after)
        async with stream:
            noted = time.monotonic()
            before: Timestamp | None = None
            while True:
                async with side.errors("reading the change stream"):
                    events, dry = await poll(stream, run.base_at)
                writer = run.writer
                assert writer is not None
                mark = None
                if dry and not events:
                    mark = token_time(stream.resume_token) or before
                if events or (mark is not None and mark > writer.covered):
                    position = _append(run, events, mark if not events else None)
                    writer = run.writer
                    assert writer is not None
                if time.monotonic() - noted >= STATUS_EVERY_S or dry:
                    now = await cluster_time(side)
                    if time.monotonic() - noted >= STATUS_EVERY_S:
                        noted = time.monotonic()
                        _report(run, now)
                    before = now if dry else None
                    if until is not None and writer.covered >= until:
                        _report(run, now, "stopped")
                        return
                if _should_close(run, writer):
                    run.close_segment()
                    run.new_segment(position)
                if events and events[-1].get("operationType") == "invalidate":
                    start_after = True
                    break


def _append(run: _Run, events: list[RawBSONDocument], mark: Timestamp | None) -> Position:
    """Write ``events`` (or a mark) durably, closing the segment whenever it reaches ``segment_mb``; return the end."""
    limit = run.options.segment_mb * 1024 * 1024
    while True:
        writer = run.writer
        assert writer is not None
        room, take = limit - writer.size, 0
        while take < len(events) and (take == 0 or room >= len(events[take].raw) + PREFIX_SIZE):
            room -= len(events[take].raw) + PREFIX_SIZE
            take += 1
        chunk, events = events[:take], events[take:]
        writer.write(chunk, mark)
        run.pauses.hit(f"write-{run.events + len(chunk)}")
        writer.sync()
        run.events += len(chunk)
        run.pauses.hit(f"synced-{run.events}")
        if not events:
            return writer.last
        run.close_segment()
        run.new_segment(writer.last)


def _should_close(run: _Run, writer: SegmentWriter) -> bool:
    age = time.monotonic() - writer.opened
    return age >= run.options.segment_seconds or writer.size >= run.options.segment_mb * 1024 * 1024


def _report(run: _Run, now: Timestamp, state: str = "following") -> None:
    """Send the status (lag, events/s, restorable range) and refresh the heartbeat file."""
    writer = run.writer
    durable = writer.covered if writer is not None else None
    tail = None
    if writer is not None:
        tail = {"seq": writer.seq, "after": ts_doc(writer.after.at), "after_token": _json_token(writer.after.token)}
        tail |= {"last": ts_doc(writer.last.at), "token": _json_token(writer.last.token)}
        tail |= {"covered": ts_doc(writer.covered), "events": writer.events, "file": writer.path.name}
    found = run.catalog.end_of_newest(tail)
    restorable = found[1] if found else None
    clock = time.monotonic()
    run.ticks = [t for t in run.ticks if clock - t[0] <= 10.0] + [(clock, run.events)]
    first = run.ticks[0]
    rate = (run.events - first[1]) / (clock - first[0]) if clock > first[0] else 0.0
    lag = max(0, now.time - durable.time) if durable is not None else None
    status = FollowStatus(state, lag, run.events, rate, durable, restorable, writer.seq if writer else 0, run.closed)
    run.on_status(status)
    heartbeat = {"pid": os.getpid(), "host": socket.gethostname(), "db": run.options.src_db, "updated": time.time()}
    heartbeat |= status.to_json()
    path = run.catalog.folder / HEARTBEAT
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(heartbeat))
    os.replace(tmp, path)


def _json_token(token: Any) -> Any:
    from analytiq_data.backup.log.format import token_out

    return token_out(token)


__all__ = ["FollowOptions", "FollowResult", "FollowStatus", "HistoryLost", "follow", "token_of"]
