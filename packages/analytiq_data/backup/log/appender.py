"""The follower's open segment, kept durably: events appended and fsynced, the segment closed when due
and catalogued, a gap recorded when history is lost.

Every piece of file work (writes, fsync, the gzip of a closed segment, the catalog's durable
rewrite) runs in a thread (``off_loop``), never on the event loop: the change stream's reads, the
status and a stop request are not held up by a slow disk. A stop request (the task cancelled)
arriving meanwhile waits for that work to end (``to_the_end``), so a file is never closed under a
write still going on, and a segment being closed is catalogued before the stop goes on.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from bson.raw_bson import RawBSONDocument
from bson.timestamp import Timestamp

from analytiq_data.backup.log.catalog import SEGMENTS, Catalog
from analytiq_data.backup.log.format import PREFIX_SIZE
from analytiq_data.backup.log.segment import Position, SegmentWriter, fsync_path
from analytiq_data.testhooks import Pauses

T = TypeVar("T")
log = logging.getLogger(__name__)

#: Test hook (``testhooks``): ``write-N`` (written, not yet fsynced), ``synced-N``, ``closing``. Tests only.
PAUSE_ENV = "ANALYTIQ_TEST_FOLLOW_PAUSE"


async def to_the_end(work: Awaitable[T]) -> T:
    """Await ``work`` to its end even when cancelled meanwhile, then let the cancellation go on."""
    task = asyncio.ensure_future(work)
    stopped = False
    while not task.done():
        try:
            await asyncio.wait([task])
        except asyncio.CancelledError:
            stopped = True
    if stopped:
        if not task.cancelled() and task.exception() is not None:
            log.warning("while stopping: %s", task.exception())
        raise asyncio.CancelledError
    return task.result()


async def off_loop(call: Callable[..., T], *args: Any) -> T:
    """Run the blocking file work ``call(*args)`` in a thread, to its end (``to_the_end``)."""
    return await to_the_end(asyncio.to_thread(call, *args))


@dataclass
class Appender:
    """The open segment of a log (``writer``) and what was done in this run: events logged, segments closed."""

    catalog: Catalog
    db: str
    gzip: bool
    segment_mb: float
    segment_seconds: float
    pauses: Pauses = field(default_factory=lambda: Pauses(PAUSE_ENV))
    writer: SegmentWriter | None = None
    events: int = 0
    closed: int = 0

    async def open(self, after: Position) -> SegmentWriter:
        """Open the next segment, continuing from ``after`` (created and fsynced)."""
        folder, seq = self.catalog.folder / SEGMENTS, self.catalog.next_seq
        self.writer = await off_loop(SegmentWriter, folder, seq, self.db, after)
        return self.writer

    async def close(self) -> None:
        """Close the open segment durably and catalogue it (an empty one is removed)."""
        writer, self.writer = self.writer, None
        if writer is not None:
            await to_the_end(self._close(writer))

    async def _close(self, writer: SegmentWriter) -> None:
        if writer.events == 0 and writer.covered == writer.after.at:
            await off_loop(_remove, writer)
            return
        entry = await off_loop(writer.close, self.gzip)
        await self.pauses.pause("closing")
        await off_loop(_publish, self.catalog, writer, entry, self.gzip)
        self.closed += 1

    def due(self, writer: SegmentWriter) -> bool:
        """Return whether the open segment is due: ``segment_mb`` large, or ``segment_seconds`` old and holding
        events (an idle one only gains marks: it stays open rather than leaving a file and a catalog entry a minute)."""
        if writer.size >= self.segment_mb * 1024 * 1024:
            return True
        return writer.events > 0 and time.monotonic() - writer.opened >= self.segment_seconds

    async def append(self, events: list[RawBSONDocument], mark: Timestamp | None) -> Position:
        """Write ``events`` (or a mark) durably, closing the segment at every ``segment_mb``; return the end."""
        limit = self.segment_mb * 1024 * 1024
        while True:
            writer = self.writer
            assert writer is not None
            room, take = limit - writer.size, 0
            while take < len(events) and (take == 0 or room >= len(events[take].raw) + PREFIX_SIZE):
                room -= len(events[take].raw) + PREFIX_SIZE
                take += 1
            chunk, events = events[:take], events[take:]
            await to_the_end(self._write(writer, chunk, mark))
            if not events:
                return writer.last
            await self.close()
            await self.open(writer.last)

    async def _write(self, writer: SegmentWriter, chunk: list[RawBSONDocument], mark: Timestamp | None) -> None:
        """Append ``chunk`` (and ``mark``) to the open segment and fsync it; only then count its events."""
        await off_loop(writer.write, chunk, mark)
        await self.pauses.pause(f"write-{self.events + len(chunk)}")
        await off_loop(writer.sync)
        self.events += len(chunk)
        await self.pauses.pause(f"synced-{self.events}")

    async def stop_with_gap(self, reason: str) -> Timestamp:
        """Close the open segment, record a gap from the end of the newest range, and return that end."""
        await self.close()
        found = self.catalog.end_of_newest()
        assert found is not None
        since = found[1].end
        await off_loop(self.catalog.add_gap, since, reason)
        return since


def _remove(writer: SegmentWriter) -> None:
    """Remove an open segment that holds nothing (no event, no mark past its start)."""
    writer.abandon()
    writer.path.unlink()
    fsync_path(writer.path.parent)


def _publish(catalog: Catalog, writer: SegmentWriter, entry: dict[str, Any], gzip: bool) -> None:
    """Catalogue a closed segment; then (gzip) remove the ``.open`` file it was compressed from."""
    catalog.add_segment(entry)
    if gzip:
        writer.path.unlink()
        fsync_path(writer.path.parent)
