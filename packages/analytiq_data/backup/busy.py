"""Is another tool changing the source right now? Busy markers: leases a writer keeps in the database.

The backup engine knows nothing of migrations. It honours one generic convention: a document
``{_id: NAME}`` in collection ``NAME`` of the source, holding a lease that ends at ``expires_at``
(judged by the server's clock, never ours) and naming its holder (``host``/``holder``, ``pid``,
``locked_at``), says that a tool is changing the database until the lease ends. A copy made
meanwhile may hold a half-done change, so ``backup`` refuses to start while a marker is live and
stops if one appears during the copy.

The migration engine's lock (``migrations/engine/lock.py``, collection and ``_id``
``migration_lock``) is such a marker: its shape is read here again on purpose, rather than by
importing the migration engine (``tests/server/test_backup_busy.py`` takes a real lock to keep
the two in step). A holder that reports the phase ``"backup"`` under its own token
(``phase_token``) is only reading — it is making a backup before it migrates (``up --backup``) —
so it does not make the source busy.

An unfinished restore (``restore_mark``: a mark in collection ``__restore``) makes the database
busy too, whether it is running or was interrupted: part of the database may be a partial load or
half swapped, and a copy of it would not be a backup.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import PyMongoError

from analytiq_data.errors import LockError
from analytiq_data.lease import describe_holder, live_now
from analytiq_data.restore_mark import MARK_COLLECTION, read_mark

T = TypeVar("T")
log = logging.getLogger(__name__)

#: Marker collections holding an expiring lease (one document with the same ``_id``), and what they are called.
MARKERS = {"migration_lock": "the migration lock"}
#: What a restore's mark (``MARK_COLLECTION``: no lease, it stays until the restore has finished) is called.
UNFINISHED_RESTORE = "an unfinished restore"
#: Phases in which a marker's holder only reads the database.
READING_PHASES = frozenset({"backup"})
#: How often a running copy looks at the markers again (seconds).
POLL_S = 1.0


@dataclass(frozen=True)
class Busy:
    """A live marker: which, held by whom, since when, in which phase (if it reports one)."""

    marker: str
    holder: str
    pid: int | None = None
    since: datetime.datetime | None = None
    phase: str | None = None

    def describe(self) -> str:
        """Return ``the migration lock ('migration_lock') held by host (pid N) since … UTC``."""
        what = UNFINISHED_RESTORE if self.marker == MARK_COLLECTION else MARKERS.get(self.marker, "a busy marker")
        phase = f", in its {self.phase} phase" if self.phase else ""
        return f"{what} ({self.marker!r}) held by {describe_holder(self.holder, self.pid, self.since)}{phase}"


async def busy_marker(db: AsyncDatabase[Any]) -> Busy | None:
    """Return the first live busy marker of ``db`` whose holder is not only reading, or None."""
    mark = await read_mark(db)
    if mark is not None:
        return Busy(MARK_COLLECTION, mark.host or "unknown", mark.pid, mark.started_at, mark.phase)
    for name in MARKERS:
        # Live unless expires_at is before the server's now: the test every lease of the tool makes.
        pipeline: list[dict[str, Any]] = [{"$match": {"_id": name}}, {"$addFields": {"_live": live_now()}}]
        async for doc in await db[name].aggregate(pipeline):
            if not doc.get("_live"):
                continue
            phase = doc.get("phase") if doc.get("phase_token") == doc.get("token") else None
            if phase in READING_PHASES:
                continue
            holder = doc.get("host") or doc.get("holder") or "unknown"
            return Busy(name, str(holder), doc.get("pid"), doc.get("locked_at"), str(phase) if phase else None)
    return None


def busy_error(busy: Busy, db: str, where: str, *, during: bool) -> LockError:
    """Return the error for a source found busy before (or during) the copy."""
    if during:
        return LockError(
            f"source database {db!r} on {where} started being changed during the copy: {busy.describe()}; "
            "the copy may hold a half-done change and is not a backup",
            hint="when that run has finished, run the backup again with --drop (--resume would mix both states)",
        )
    return LockError(
        f"source database {db!r} on {where} is being changed: {busy.describe()}; a copy now could hold a "
        "half-done change",
        hint="wait for that run to finish (analytiq-db status shows it), then run the backup again",
    )


async def watched(
    work: Awaitable[T],
    db: AsyncDatabase[Any],
    on_busy: Callable[[Busy], Awaitable[BaseException]],
    interval_s: float = POLL_S,
) -> T:
    """Await ``work`` while looking at ``db``'s busy markers every ``interval_s``; stop it if one appears.

    ``on_busy(busy)`` is awaited with the marker found and must return the exception to raise
    (``work`` is cancelled and awaited first).
    """
    task = asyncio.ensure_future(work)

    async def watch() -> Busy:
        while True:
            await asyncio.sleep(interval_s)
            try:
                found = await busy_marker(db)
            except PyMongoError as exc:  # a lost source stops the copy itself; the last look is made after it
                log.debug("could not read the busy markers: %s", exc)
                continue
            if found is not None:
                return found

    watcher = asyncio.ensure_future(watch())
    try:
        await asyncio.wait([task, watcher], return_when=asyncio.FIRST_COMPLETED)
        if task.done():
            return task.result()
        found = watcher.result()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        raise await on_busy(found)
    finally:
        for t in (task, watcher):
            if not t.done():
                t.cancel()
        await asyncio.gather(task, watcher, return_exceptions=True)
