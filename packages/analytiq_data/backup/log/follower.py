"""``follow``: keep a base and the database's change events in DIR, durably, until stopped.

One task: take (or adopt) a base when DIR has none usable, then tail the database-level change
stream from the log's position into the open segment (append, fsync: only then durable), closing
a segment every ``segment_seconds`` or ``segment_mb``. A stop request (SIGTERM, Ctrl-C: the task
is cancelled) closes the open segment before the error goes on. Lost history becomes a recorded
gap and a ``HistoryLost`` error (exit 3). Engines never print: status goes to ``on_status``.

The open segment is kept by an ``appender.Appender``: its file work runs in a thread, never on the
event loop.
"""

from __future__ import annotations

import shutil
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
from analytiq_data.backup.log.appender import Appender, off_loop
from analytiq_data.backup.log.base import adopt_base, take_base
from analytiq_data.backup.log.catalog import BASES, CATALOG, SEGMENTS, Catalog, Range, load_catalog, when_text
from analytiq_data.backup.log.dirlock import LOCK_FILE, holding, log_folder
from analytiq_data.backup.log.format import previous, ts_of
from analytiq_data.backup.log.recover import recover
from analytiq_data.backup.log.segment import Position
from analytiq_data.backup.log.status import HEARTBEAT, FollowStatus, Ticker
from analytiq_data.backup.log.stream import HistoryGone, open_at, poll, token_of
from analytiq_data.backup.log.swapmark import restore_running, swap_begins
from analytiq_data.backup.options import RESERVED_DATABASES
from analytiq_data.connecting import check_uri_scheme
from analytiq_data.errors import ConfigurationError
from analytiq_data.progress import NULL_PROGRESS, Progress
from analytiq_data.settings import DEFAULT_TIMEOUT_S, validate_db_name
from analytiq_data.text import first_few
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
        check_uri_scheme(self.src_uri)
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
    """One run's moving parts: the catalog, the open segment and its counters (``log``), the status."""

    options: FollowOptions
    catalog: Catalog
    side: Side
    on_status: StatusSink
    ticker: Ticker
    log: Appender
    base_at: Timestamp | None = None

    def report(self, now: Timestamp, state: str = "following") -> None:
        """Send the status (lag, events/s, restorable range) and refresh the heartbeat file."""
        log = self.log
        self.on_status(self.ticker.status(self.catalog, log.writer, log.events, log.closed, now, state))


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
    folder, fresh = _log_folder(options.to)
    try:
        return await _follow_in(folder, options, progress, on_status)
    except BaseException:
        if fresh:
            _discard_unused(folder)
        raise


#: What a log directory holds besides ``catalog.json`` (and its temporary): a follower starts a log only
#: in a directory holding nothing else.
LOG_ENTRIES = frozenset({BASES, SEGMENTS, LOCK_FILE, HEARTBEAT})


def _log_folder(to: str) -> tuple[Path, bool]:
    """Return the log directory ``to`` (created if missing) and whether this run created it.

    ConfigurationError (nothing written) when ``to`` has no catalog and holds files of its own.
    """
    fresh = not Path(to).exists()
    folder = log_folder(to)
    if not (folder / CATALOG).exists():
        names = (p.name for p in folder.iterdir())
        foreign = sorted(n for n in names if n not in LOG_ENTRIES and not n.startswith(CATALOG))
        if foreign:
            raise ConfigurationError(
                f"--to {to} holds files and is not an event log ({first_few(foreign, 3, ', ')}): nothing written",
                hint="give a new or empty directory for the log",
            )
    return folder, fresh


def _discard_unused(folder: Path) -> None:
    """Remove a log directory this run created if it logged nothing (no catalog): a failed start leaves none."""
    if not (folder / CATALOG).exists():
        shutil.rmtree(folder, ignore_errors=True)


async def _follow_in(
    folder: Path, options: FollowOptions, progress: Progress, on_status: StatusSink | None
) -> FollowResult:
    with holding(folder):  # one follower per directory (LockError otherwise)
        catalog, recovered = await off_loop(_prepare, options, folder)
        for line in recovered:
            progress.note(f"recovery: {line}")
        ticker = Ticker(folder, options.src_db)
        try:
            async with open_server(options.src_uri, options.src_db, options.timeout_s) as (side, _):
                require_change_streams(side)
                appender = Appender(catalog, options.src_db, options.gzip, options.segment_mb, options.segment_seconds)
                run = _Run(options, catalog, side, on_status or (lambda _s: None), ticker, appender)
                base = await _ensure_base(run, progress)
                await _tail(run)
        finally:
            ticker.stopped()
    done = run.log
    return FollowResult(str(catalog.folder), done.events, done.closed, tuple(catalog.ranges()), tuple(recovered), base)


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
            since = ts_of(entry["at"]) or Timestamp(0, 0)
            await off_loop(catalog.add_gap, since, "a restore began replacing the database")
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
    await run.log.open(position)
    try:
        await _stream_loop(run, position, until)
    except HistoryGone as exc:
        since = await run.log.stop_with_gap(f"history lost ({exc.detail})")
        raise _lost_error(run, since) from None
    except _SwapSeen as exc:
        reason = f"the database was replaced by a restore (its lock marked at {when_text(exc.at)})"
        since = await run.log.stop_with_gap(reason)
        raise _replaced_error(run, since) from None
    finally:
        await run.log.close()


def _covered(run: _Run) -> str:
    return "; ".join(r.describe() for r in run.catalog.ranges()) or "nothing"


def _new_base_hint(run: _Run) -> str:
    """The command that goes on after a gap; the URI as a placeholder (it may hold a password)."""
    command = f"analytiq-db follow --src-uri URI --src {run.options.src_db} --to {run.catalog.folder} --new-base"
    return f"run the same command with --new-base ({command})"


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
                await _stop_at_a_swap(run, events)
                writer = run.log.writer
                assert writer is not None
                mark = None
                if dry and not events:
                    mark = token_time(stream.resume_token) or before
                if events or (mark is not None and mark > writer.covered):
                    position = await run.log.append(events, mark if not events else None)
                    writer = run.log.writer
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
                if run.log.due(writer):
                    await run.log.close()
                    await run.log.open(position)
                if events and events[-1].get("operationType") == "invalidate":
                    start_after = True
                    break


async def _stop_at_a_swap(run: _Run, events: list[RawBSONDocument]) -> None:
    """If a restore marks the database's lock among ``events``: keep those before it, mark the log complete
    up to just before it, and raise _SwapSeen."""
    cut = next((i for i, e in enumerate(events) if swap_begins(e)), None)
    if cut is None:
        return
    at = events[cut]["clusterTime"]
    await run.log.append(events[:cut], None)
    await run.log.append([], previous(at))
    raise _SwapSeen(at)


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
