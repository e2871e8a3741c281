"""Verbs of point-in-time recovery: ``follow`` (keep a base and the change events in DIR) and ``log ranges``.

Parsing, wiring and drawing only: the work lives in ``analytiq_data.backup.log`` (follow, ranges)
and ``analytiq_data.safety.restore_log`` (``restore --from-log``, wired in ``safety_cmds``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sys
import time
from collections.abc import Iterator
from typing import Any

from analytiq_data.backup.log.catalog import when_text
from analytiq_data.backup.log.follower import (
    DEFAULT_SEGMENT_MB,
    DEFAULT_SEGMENT_SECONDS,
    FollowOptions,
    FollowResult,
    FollowStatus,
    follow,
)
from analytiq_data.backup.log.format import ts_of
from analytiq_data.backup.log.reader import log_ranges, present_ranges
from analytiq_data.cli.options import output_options, positive_seconds, timeout_option
from analytiq_data.cli.progress_view import RichLines
from analytiq_data.cli.render import make_progress, print_json, print_table
from analytiq_data.settings import DEFAULT_TIMEOUT_S
from analytiq_data.text import plural

FOLLOW_DESCRIPTION = """\
Keep a continuous backup of one database in DIR: a base (a consistent dump, taken now unless DIR has
one) and every change event after it, in segment files closed every --segment-seconds or
--segment-mb, each fsynced before it counts. Runs until SIGTERM or Ctrl-C (which close the open
segment cleanly), or with --catch-up until everything up to now is logged. Shows the lag behind the
source, events/s and the restorable range. Restore any moment with
analytiq-db restore --from-log DIR --at WHEN. Needs a replica set or mongos (change streams).
Exit codes: 0 stopped, 3 history lost (a gap is recorded: run again with --new-base), 4 unreachable,
5 another follower is writing to DIR (one per directory).
"""


def register(sub: Any, parent: argparse.ArgumentParser) -> None:
    """Add the ``follow`` and ``log`` verbs."""
    p = sub.add_parser(
        "follow", help="keep a continuous backup (base + change events) in DIR", description=FOLLOW_DESCRIPTION
    )
    where = p.add_argument_group("what to follow")
    where.add_argument("--src-uri", metavar="URI", help="source MongoDB URI, or env:NAME / file:PATH ($BACKUP_SRC_URI)")
    where.add_argument("--src", required=True, metavar="DB", help="the database to follow")
    where.add_argument("--to", required=True, metavar="DIR", help="the log directory (created if missing)")
    how = p.add_argument_group("how")
    how.add_argument(
        "--segment-seconds",
        type=positive_seconds,
        default=DEFAULT_SEGMENT_SECONDS,
        metavar="S",
        help=f"close a segment after S seconds (default {DEFAULT_SEGMENT_SECONDS:g})",
    )
    how.add_argument(
        "--segment-mb",
        type=positive_seconds,
        default=DEFAULT_SEGMENT_MB,
        metavar="MB",
        help=f"close a segment at MB megabytes (default {DEFAULT_SEGMENT_MB:g})",
    )
    how.add_argument("--gzip", action="store_true", help="gzip closed segments and the base")
    how.add_argument("--new-base", action="store_true", help="take a new base first (needed after a gap)")
    how.add_argument("--adopt", metavar="FILE", help="use this consistent archive inside DIR as the base")
    how.add_argument("--catch-up", action="store_true", help="stop once everything up to now is logged")
    timeout_option(how)
    output_options(p)
    p.set_defaults(handler=cmd_follow)

    p = sub.add_parser("log", help="inspect an event log: log ranges DIR")
    what = p.add_subparsers(dest="log_command", metavar="WHAT", required=True)
    r = what.add_parser("ranges", help="list the moments DIR can restore (ranges, gaps)")
    r.add_argument("dir", metavar="DIR", help="the log directory")
    output_options(r)
    r.set_defaults(handler=cmd_log_ranges)


def follow_options(args: argparse.Namespace) -> FollowOptions:
    """Return validated FollowOptions from the parsed flags (no connection made)."""
    from analytiq_data.cli.backup_cmds import source_uri

    return FollowOptions(
        src_uri=source_uri(args),
        src_db=args.src,
        to=args.to,
        segment_seconds=args.segment_seconds,
        segment_mb=args.segment_mb,
        gzip=args.gzip,
        new_base=args.new_base,
        adopt=args.adopt,
        catch_up=args.catch_up,
        timeout_s=args.timeout or DEFAULT_TIMEOUT_S,
    )


class StatusView:
    """Draws the follower's status: a live line on a terminal, a plain line every 10 s otherwise, JSON lines.

    On a terminal the line is drawn by the run's progress bars (``RichLines.show``): one live region,
    so the base's bars and the status line never overwrite each other.
    """

    PLAIN_EVERY_S = 10.0
    TASK = "follow-status"

    def __init__(self, as_json: bool, progress: Any = None) -> None:
        self.as_json = as_json
        self.live = progress if not as_json and isinstance(progress, RichLines) else None
        self.last_plain = 0.0

    def __call__(self, status: FollowStatus) -> None:
        if self.as_json:
            print(json.dumps({"status": status.to_json()}), flush=True)
        elif self.live is not None:
            self.live.show(self.TASK, status_line(status))
        elif time.monotonic() - self.last_plain >= self.PLAIN_EVERY_S or status.state != "following":
            self.last_plain = time.monotonic()
            print(status_line(status), file=sys.stderr, flush=True)

    def close(self) -> None:
        """Remove the live line."""
        if self.live is not None:
            self.live.hide(self.TASK)


def status_line(status: FollowStatus) -> str:
    """Return the status as one line: lag, events/s, the restorable range, the open segment."""
    if status.state == "base":
        return "follow: taking a base (consistent dump)"
    lag = "?" if status.lag_s is None else f"{status.lag_s:.0f} s"
    restorable = "nothing yet"
    if status.restorable is not None:
        restorable = f"{when_text(status.restorable.start)} → {when_text(status.restorable.end)}"
    return (
        f"follow: lag {lag}, {status.events_per_s:,.0f} events/s, {status.events:,} events; "
        f"restorable {restorable}; segment {status.segment}"
    )


async def cmd_follow(args: argparse.Namespace) -> int:
    """Follow the database until stopped; SIGTERM or Ctrl-C closes the open segment and exits 0."""
    options = follow_options(args)
    progress = make_progress(args.json)
    view = StatusView(args.json, progress)
    try:
        with _sigterm_cancels(asyncio.current_task()):
            result = await follow(options, progress, view)
    except asyncio.CancelledError:
        view.close()
        progress.close()
        _render_stop(options, args.json)
        return 0
    finally:
        view.close()
        progress.close()
    _render_result(result, args.json)
    return 0


@contextlib.contextmanager
def _sigterm_cancels(task: asyncio.Task[Any] | None) -> Iterator[None]:
    """Let SIGTERM cancel ``task`` from inside the event loop (the way Ctrl-C does), whatever SIGINT's state.

    The command line's own SIGTERM handler hands the signal to SIGINT's; a process started in the
    background by a script has SIGINT ignored, and the signal then became an exception thrown at
    whatever line was running (exit 130, counters half updated). Here it is a plain cancellation.
    """
    loop, previous = asyncio.get_running_loop(), signal.getsignal(signal.SIGTERM)
    if task is None:
        yield
        return
    loop.add_signal_handler(signal.SIGTERM, task.cancel)
    try:
        yield
    finally:
        loop.remove_signal_handler(signal.SIGTERM)
        signal.signal(signal.SIGTERM, previous)


def _render_stop(options: FollowOptions, as_json: bool) -> None:
    _, ranges = log_ranges(options.to)
    if as_json:
        print(json.dumps({"stopped": True, "ranges": [r.to_json() for r in ranges]}), flush=True)
        return
    said = "; ".join(r.describe() for r in ranges) or "nothing"
    print(f"follow stopped: open segment closed; {options.to} can restore {said}", file=sys.stderr)


def _render_result(result: FollowResult, as_json: bool) -> None:
    if as_json:
        print(json.dumps({"result": result.to_json()}), flush=True)
        return
    said = "; ".join(r.describe() for r in result.ranges) or "nothing"
    logged, closed = plural(result.events, "event"), plural(result.segments_closed, "segment")
    print(f"follow: {logged} logged, {closed} closed; can restore {said}")


async def cmd_log_ranges(args: argparse.Namespace) -> int:
    """Print the restorable ranges of a log directory, its gaps, and the files it misses."""
    catalog, listed = log_ranges(args.dir)
    ranges, missing = present_ranges(catalog, listed)
    if args.json:
        print_json({"dir": args.dir, "ranges": [r.to_json() for r in ranges], "gaps": catalog.gaps, "damaged": missing})
        return 0
    rows = [
        (when_text(r.start), when_text(r.end), r.base["file"], len(r.segments), r.to_json()["events"]) for r in ranges
    ]
    print_table(f"restorable ranges of {args.dir}", ["from", "to", "base", "segments", "events"], rows)
    for gap in catalog.gaps:
        start, end = ts_of(gap["from"]), ts_of(gap.get("to"))
        until = when_text(end) if end is not None else "the next base"
        print(f"gap: no history from {when_text(start) if start else '?'} to {until} ({gap.get('reason')})")
    for line in missing:
        print(f"damaged: {line}")
    return 0
