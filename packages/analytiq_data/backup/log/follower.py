"""``follow``: keep a base and the database's change events in DIR, durably, until stopped.

One task: take (or adopt) a base when DIR has none usable, then tail the database-level change
stream from the log's position into the open segment (append, fsync: only then durable), closing
a segment every ``segment_seconds`` or ``segment_mb``. A stop request (SIGTERM, Ctrl-C: the task
is cancelled) closes the open segment before the error goes on. Lost history becomes a recorded
gap and a ``HistoryLost`` error (exit 3). Engines never print: status goes to ``on_status``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
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
from analytiq_data.backup.log.format import PREFIX_SIZE, previous, ts_of
from analytiq_data.backup.log.recover import recover
from analytiq_data.backup.log.segment import Position, SegmentWriter, fsync_dir
from analytiq_data.backup.log.status import HEARTBEAT, FollowStatus, Ticker
from analytiq_data.backup.log.stream import HistoryGone, open_at, poll, token_of
from analytiq_data.backup.log.swapmark import restore_running, swap_begins
from analytiq_data.backup.log.testhooks import Pauses
from analytiq_data.backup.options import RESERVED_DATABASES
from analytiq_data.errors import ConfigurationError
from analytiq_data.progress import NULL_PROGRESS, Progress
from analytiq_data.settings import DEFAULT_TIMEOUT_S, validate_db_name
from analytiq_data.uri import hosts_of, redact_uri

DEFAULT_SEGMENT_SECONDS = 60.0
DEFAULT_SEGMENT_MB = 64.0
#: How often the status (and the heartbeat file) is refreshed, and an idle stretch marked.
STATUS_EVERY_S = 1.0


class HistoryLost(ConfigurationError):
    """The source no longer holds the changes after the log's last position: a gap is recorded (exit 3)."""


class DatabaseReplaced(HistoryLost):
    """A restore is replacing the followed database, which the log cannot represent: a gap is recorded (exit 3)."""


class _SwapSeen(Exception):
    """The change stream showed a restore marking the database's lock at ``at`` (internal)."""

    def __init__(self, at: Timestamp) -> None:
        super().__init__(str(at))
        self.at = at


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
    ticker: Ticker
    writer: SegmentWriter | None = None
    base_at: Timestamp | None = None
    events: int = 0
    closed: int = 0

    def new_segment(self, after: Position) -> SegmentWriter:
        self.writer = SegmentWriter(self.catalog.folder / SEGMENTS, self.catalog.next_seq, self.options.src_db, after)
        return self.writer

    def close_segment(self) -> None:
        """Close the open segment durably and catalogue it (an empty one is removed)."""
        writer, self.writer = self.writer, None
        if writer is None:
            return
        if writer.events == 0 and writer.covered == writer.after.at:
            writer.abandon()
            writer.path.unlink()
            fsync_dir(writer.path.parent)
            return
        entry = writer.close(self.options.gzip)
        self.pauses.hit("closing")
        self.catalog.add_segment(entry)
        if self.options.gzip:
            writer.path.unlink()
            fsync_dir(writer.path.parent)
        self.closed += 1

    def report(self, now: Timestamp, state: str = "following") -> None:
        """Send the status (lag, events/s, restorable range) and refresh the heartbeat file."""
        self.on_status(self.ticker.status(self.catalog, self.writer, self.events, self.closed, now, state))

    def stop_with_gap(self, reason: str) -> Timestamp:
        """Close the open segment, record a gap from the end of the newest range, and return that end."""
        self.close_segment()
        found = self.catalog.end_of_newest()
        assert found is not None
        since = found[1].end
        self.catalog.add_gap(since, reason)
        return since


async def follow(
    options: FollowOptions, progress: Progress = NULL_PROGRESS, on_status: StatusSink | None = None
) -> FollowResult:
    """Follow the source database into ``options.to`` until stopped (or caught up, with ``catch_up``).

    Raises HistoryLost (exit 3, gap recorded) when the source no longer holds the log's position,
    DatabaseReplaced (exit 3, gap recorded) when a restore starts replacing the database (or one
    is running when a base is to be taken), LogDamaged when DIR is damaged (nothing changed),
    ConfigurationError (standalone source, DIR of another database, not a directory), LockError
    (another follower writes to DIR: exit 5), DatabaseConnectionError. Cancelled (SIGTERM,
    Ctrl-C): the open segment is closed durably first.
    """
    folder = log_folder(options.to)
    with holding(folder):  # one follower per directory (LockError otherwise)
        catalog, recovered = _prepare(options, folder)
        for line in recovered:
            progress.note(f"recovery: {line}")
        ticker = Ticker(folder, options.src_db)
        try:
            async with open_server(options.src_uri, options.src_db, options.timeout_s) as (side, _):
                require_change_streams(side)
                run = _Run(options, catalog, side, on_status or (lambda _s: None), Pauses(), ticker)
                base = await _ensure_base(run, progress)
                await _tail(run)
        finally:
            ticker.stopped()
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
        since = ts_of(gap["from"])
        raise HistoryLost(
            f"the log in {catalog.folder} has a gap after {when_text(since) if since else '?'} "
            f"({gap.get('reason')}): it cannot continue",
            hint="take a new base: run follow again with --new-base",
        )
    if options.new_base or not catalog.bases:
        if await restore_running(run.side.db):
            raise _replacing_error(run)
        run.on_status(FollowStatus("base", None, 0, 0.0, None, None, 0, 0))
        entry = await take_base(
            catalog, options.src_uri, options.src_db, gzip=options.gzip, timeout_s=options.timeout_s, progress=progress
        )
        if await restore_running(run.side.db):  # it began during the dump: the base may miss its swap
            catalog.add_gap(ts_of(entry["at"]) or Timestamp(0, 0), "a restore began replacing the database")
            raise _replacing_error(run)
        return str(entry["file"])
    return None


def _replacing_error(run: _Run) -> DatabaseReplaced:
    return DatabaseReplaced(
        f"a restore is replacing database {run.options.src_db} now, or stopped part-way (its mark __restore says so): "
        "a base taken under it would miss what the restore swaps in",
        hint="run follow again once the restore has finished (a stopped one: run the same restore again first)",
    )


async def _tail(run: _Run) -> None:
    """Tail the change stream into segments until stopped, caught up, or the history is lost."""
    found = run.catalog.end_of_newest()
    assert found is not None
    position, _ = found
    run.base_at = None if position.token is not None else position.at
    until = await cluster_time(run.side) if run.options.catch_up else None
    run.new_segment(position)
    try:
        await _stream_loop(run, position, until)
    except HistoryGone as exc:
        since = run.stop_with_gap(f"history lost ({exc.detail})")
        raise _lost_error(run, since) from None
    except _SwapSeen as exc:
        since = run.stop_with_gap(f"the database was replaced by a restore (its lock marked at {when_text(exc.at)})")
        raise _replaced_error(run, since) from None
    finally:
        run.close_segment()


def _covered(run: _Run) -> str:
    return "; ".join(r.describe() for r in run.catalog.ranges()) or "nothing"


def _new_base_hint(run: _Run) -> str:
    return f"analytiq-db follow --src {run.options.src_db} --to {run.catalog.folder} --new-base"


def _lost_error(run: _Run, since: Timestamp) -> HistoryLost:
    return HistoryLost(
        f"history lost: the source no longer holds the changes after {when_text(since)} (its oplog moved on), "
        f"so nothing after that moment can be restored until a new base; the log covers {_covered(run)}; "
        "the gap is recorded in the catalog",
        hint=f"take a new base: {_new_base_hint(run)}",
    )


def _replaced_error(run: _Run, since: Timestamp) -> DatabaseReplaced:
    return DatabaseReplaced(
        f"database {run.options.src_db} is being replaced by a restore after {when_text(since)}: a log cannot "
        f"follow a restore, so nothing after that moment can be restored from it; the log covers {_covered(run)}; "
        "the gap is recorded in the catalog",
        hint=f"once the restore has finished, take a new base: {_new_base_hint(run)}",
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
                _stop_at_a_swap(run, events)
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
                        run.report(now)
                    before = now if dry else None
                    if until is not None and writer.covered >= until:
                        run.report(now, "stopped")
                        return
                if _should_close(run, writer):
                    run.close_segment()
                    run.new_segment(position)
                if events and events[-1].get("operationType") == "invalidate":
                    start_after = True
                    break


def _stop_at_a_swap(run: _Run, events: list[RawBSONDocument]) -> None:
    """If a restore marks the database's lock among ``events``: keep those before it, mark the log complete
    up to just before it, and raise _SwapSeen."""
    cut = next((i for i, e in enumerate(events) if swap_begins(e)), None)
    if cut is None:
        return
    at = events[cut]["clusterTime"]
    _append(run, events[:cut], None)
    _append(run, [], previous(at))
    raise _SwapSeen(at)


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
    """Return whether the open segment is due: ``segment_mb`` large, or ``segment_seconds`` old and holding events
    (an idle one only gains marks: it stays open rather than leaving a file and a catalog entry a minute)."""
    if writer.size >= run.options.segment_mb * 1024 * 1024:
        return True
    return writer.events > 0 and time.monotonic() - writer.opened >= run.options.segment_seconds


__all__ = [
    "HEARTBEAT",
    "DatabaseReplaced",
    "FollowOptions",
    "FollowResult",
    "FollowStatus",
    "HistoryLost",
    "follow",
    "token_of",
]
