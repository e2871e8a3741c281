"""One runner at a time: a lease in collection ``migration_lock`` that expires by the server's clock.

The lease is one document, ``{_id: "migration_lock", holder, host, pid, token, locked_at,
expires_at, renewed_at, lease_s, txn_lsid}``. It is taken atomically with ``find_one_and_update``
(upsert on the fixed ``_id``, filtered on ``expires_at < $$NOW``, compared in milliseconds): a
live lease makes the upsert hit a duplicate key, so exactly one runner wins. ``expires_at`` is
computed from ``$$NOW``, so the server's clock decides, never a runner's. A background task
renews the lease while steps run; a runner whose renewal finds another token has lost the lease
and stops before its next step.

``MigrationLock.acquire`` waits and returns an ``Acquisition`` (held / stopped / timed out); it
decides nothing about the database. Callers read the state only once they hold the lease: while
another runner holds it, what the database records is a run in progress, not its end state.

The original code's lock, ``{_id: "migration_lock", holder, locked_at, expires_at}`` (host name
only, 300 s, never renewed), is respected the same way until it expires.

When the lease of a dead runner is taken over, the transaction it had open (its session id is kept
in ``txn_lsid``) is killed with ``killSessions``: on mongod a killed client's transaction keeps its
locks until ``transactionLifetimeLimitSeconds``, which would block the new runner.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Protocol

from pymongo import ReturnDocument, WriteConcern
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError, PyMongoError

from analytiq_data.errors import LockError
from analytiq_data.progress import NULL_PROGRESS, Progress

log = logging.getLogger(__name__)

LOCK_COLLECTION = "migration_lock"
LOCK_ID = "migration_lock"
DEFAULT_LEASE_S = 30.0
DEFAULT_LOCK_WAIT_S = 120.0


@dataclass(frozen=True)
class LockInfo:
    """Who holds (or held) the migration lock, as the lock document and the server's clock say."""

    holder: str
    host: str | None
    pid: int | None
    token: str | None
    locked_at: datetime | None
    expires_at: datetime | None
    renewed_at: datetime | None
    txn_lsid: Any
    live: bool
    phase: str | None = None  # what the live holder reports doing (``set_phase``), e.g. "backup"

    @classmethod
    def from_doc(cls, doc: dict[str, Any], live: bool) -> LockInfo:
        """Build from a lock document (ours or the original code's)."""
        host = doc.get("host") or doc.get("holder")
        token = doc.get("token")
        in_phase = live and token is not None and doc.get("phase") and doc.get("phase_token") == token
        return cls(
            holder=str(doc.get("holder") or host or "unknown"),
            host=host,
            pid=doc.get("pid"),
            token=doc.get("token"),
            locked_at=doc.get("locked_at"),
            expires_at=doc.get("expires_at"),
            renewed_at=doc.get("renewed_at"),
            txn_lsid=doc.get("txn_lsid"),
            live=live,
            phase=str(doc["phase"]) if in_phase else None,
        )

    def describe(self) -> str:
        """Return ``host (pid N) since 2024-05-01 10:00:00 UTC`` for messages."""
        who = self.host or self.holder
        if self.pid is not None:
            who += f" (pid {self.pid})"
        if self.locked_at is not None:
            who += f" since {format_time(self.locked_at)}"
        return who

    def to_json(self) -> dict[str, Any]:
        """Return the lock as plain data (the session id left out)."""
        data = dict(self.__dict__)
        data.pop("txn_lsid", None)
        return data


class Stoppable(Protocol):
    """Something that may ask a waiting runner to stop (``options.StopRequest``)."""

    @property
    def requested(self) -> bool:
        """Return whether a stop was requested."""
        ...


@dataclass(frozen=True)
class Acquisition:
    """How waiting for the lock ended: ``held`` (this runner holds the lease), ``stopped`` (a stop
    was requested while waiting) or ``timed_out`` (``holder`` still held it after the wait).

    ``holder`` is the last other runner seen holding the lease (None if it was free at once), so
    ``outcome == "held" and holder is not None`` means this runner waited for another one.
    ``took_over`` is the expired lease this runner replaced, if any.
    """

    outcome: Literal["held", "stopped", "timed_out"]
    holder: LockInfo | None
    waited_s: float
    took_over: LockInfo | None = None

    @property
    def waited_for_another(self) -> bool:
        """Return whether another runner held the lease while this one waited."""
        return self.holder is not None


def held_error(holder: LockInfo | None, wait_s: float) -> LockError:
    """Return the error for a lock still held by ``holder`` after waiting ``wait_s`` seconds."""
    who = holder.describe() if holder else "another runner"
    expiry = f"; its lease ends at {format_time(holder.expires_at)}" if holder and holder.expires_at else ""
    return LockError(
        f"migration lock held by {who} (waited {wait_s:g}s){expiry}",
        hint="wait for it to finish or raise --lock-wait; if that runner is dead, "
        "analytiq-db unlock clears the lock once its lease has expired",
    )


def note_waiting(progress: Progress, holder: LockInfo, wait_s: float, noted: set[str]) -> None:
    """Tell ``progress`` once that this runner waits, and once per phase the holder reports."""
    if holder.phase is not None:
        if holder.phase not in noted:
            noted.add(holder.phase)
            progress.note(
                f"the lock holder is in its {holder.phase} phase: waiting for it (not counted in the lock wait)"
            )
    elif "" not in noted:
        noted.add("")
        progress.note(f"waiting up to {wait_s:g}s for the migration lock held by {holder.describe()}")


def format_time(value: datetime) -> str:
    """Return a datetime as ``YYYY-MM-DD HH:MM:SS UTC``."""
    return value.strftime("%Y-%m-%d %H:%M:%S UTC")


def _expires_before_now() -> dict[str, Any]:
    """Return the ``$expr`` "expires_at is before the server's now" (a missing expiry counts as past).

    Compared as milliseconds: SecantusDB evaluates a date compared with ``$$NOW`` as false both
    ways; ``$toLong`` on both sides is the same test on mongod and works there too.
    """
    return {"$lt": [{"$toLong": "$expires_at"}, {"$toLong": "$$NOW"}]}


async def read_lock(db: AsyncDatabase[Any]) -> LockInfo | None:
    """Return the lock document with ``live`` judged by the server's clock, or None if there is none."""
    pipeline: list[dict[str, Any]] = [
        {"$match": {"_id": LOCK_ID}},
        {"$addFields": {"_live": {"$not": [_expires_before_now()]}}},
    ]
    async for doc in await db[LOCK_COLLECTION].aggregate(pipeline):
        return LockInfo.from_doc(doc, live=bool(doc.pop("_live", False)))
    return None


async def kill_session(db: AsyncDatabase[Any], lsid: Any) -> None:
    """Abort the transaction of session ``lsid`` (best effort: logged, never raised)."""
    if not isinstance(lsid, dict) or "id" not in lsid:
        return
    try:
        await db.client.admin.command("killSessions", [{"id": lsid["id"]}])
        log.warning("killed session %s left open by the previous lock holder", lsid["id"])
    except PyMongoError as exc:
        log.warning("could not kill the previous holder's session: %s", exc)


async def delete_lock(db: AsyncDatabase[Any], info: LockInfo) -> bool:
    """Delete the lock document if it is still the one described by ``info``; return whether it was."""
    query: dict[str, Any] = {"_id": LOCK_ID, "holder": info.holder, "locked_at": info.locked_at}
    if info.token is not None:
        query["token"] = info.token
    coll = db.get_collection(LOCK_COLLECTION, write_concern=WriteConcern("majority"))
    result = await coll.delete_one(query)
    if result.deleted_count and info.txn_lsid is not None:
        await kill_session(db, info.txn_lsid)
    return bool(result.deleted_count)


class MigrationLock:
    """This runner's lease: acquire (waiting up to a bound), renew in the background, release."""

    def __init__(self, db: AsyncDatabase[Any], *, lease_s: float = DEFAULT_LEASE_S) -> None:
        if lease_s <= 0:
            raise ValueError("lease_s must be positive")
        self.db = db
        self.coll = db.get_collection(LOCK_COLLECTION, write_concern=WriteConcern("majority"))
        self.lease_s = lease_s
        self.host = socket.gethostname()
        self.pid = os.getpid()
        self.token = uuid.uuid4().hex
        self.held = False
        self.lost = False
        self.took_over: LockInfo | None = None  # the expired lease this runner replaced, if any
        self._renewer: asyncio.Task[None] | None = None
        self._last_renewal = 0.0

    def _lease_update(self) -> list[dict[str, Any]]:
        lease_ms = int(self.lease_s * 1000)
        return [
            {
                "$set": {
                    "holder": self.host,
                    "host": self.host,
                    "pid": self.pid,
                    "token": self.token,
                    "lease_s": self.lease_s,
                    "locked_at": "$$NOW",
                    "renewed_at": "$$NOW",
                    "expires_at": {"$add": ["$$NOW", lease_ms]},
                }
            },
            {"$unset": ["txn_lsid"]},
        ]

    async def try_acquire(self) -> bool:
        """Take the lease if it is free or expired; return whether this runner now holds it."""
        return await self._attempt() is None

    async def _attempt(self) -> LockInfo | None:
        """Take the lease if it is free or expired: None once held, else the live holder as read.

        Who won is decided by reading back this runner's token (``ReturnDocument.AFTER``), not by
        the pre-image: under a race the pre-image a server returns may be stale.
        """
        previous = await read_lock(self.db)
        if previous is not None and previous.live:
            return previous
        query = {"_id": LOCK_ID, "$expr": _expires_before_now()}
        try:
            after = await self.coll.find_one_and_update(
                query, self._lease_update(), upsert=True, return_document=ReturnDocument.AFTER
            )
        except DuplicateKeyError:
            after = None
        if after is None or after.get("token") != self.token:
            winner = await read_lock(self.db)  # lost a race: say who won
            return winner if winner is not None else LockInfo.from_doc({"holder": "another runner"}, live=True)
        self.held, self.lost = True, False
        self._last_renewal = time.monotonic()
        if previous is not None:
            self.took_over = previous
            log.warning("took over the expired migration lock of %s", previous.describe())
            if previous.txn_lsid is not None:
                await kill_session(self.db, previous.txn_lsid)
        return None

    async def acquire(
        self, wait_s: float, *, stop: Stoppable | None = None, progress: Progress = NULL_PROGRESS
    ) -> Acquisition:
        """Take the lease, waiting with backoff while another runner holds it; return how that ended.

        Waiting ends when the lease is held (``held``), when ``stop.requested`` becomes true
        (``stopped``), or after ``wait_s`` seconds of waiting (``timed_out``; ``held_error`` says
        it). Time during which the holder reports a phase (``set_phase``, e.g. a backup) is not
        counted: the holder is alive and working. Decides nothing about the database: the caller
        reads the state once it holds the lease. Notes the wait once on ``progress``.
        """
        started = last = time.monotonic()
        counted, delay, was_in_phase = 0.0, 0.05, False
        noted: set[str] = set()
        holder: LockInfo | None = None
        while True:
            if stop is not None and stop.requested:
                return Acquisition("stopped", holder, time.monotonic() - started)
            seen = await self._attempt()
            if seen is None:
                waited = time.monotonic() - started
                return Acquisition("held", holder, waited if holder is not None else 0.0, self.took_over)
            holder, now, in_phase = seen, time.monotonic(), seen.phase is not None
            if not (in_phase or was_in_phase):  # a poll interval touching a phase is not counted
                counted += now - last
            if was_in_phase and not in_phase:
                delay = 0.05  # the phase is over: poll closely again, as at the start
            last, was_in_phase = now, in_phase
            note_waiting(progress, seen, wait_s, noted)
            remaining = max(wait_s, 0.0) - counted
            if not in_phase and remaining <= 0:
                return Acquisition("timed_out", seen, now - started)
            await asyncio.sleep(delay if in_phase else min(delay, remaining))
            delay = min(delay * 2, 1.0)

    async def set_phase(self, phase: str | None) -> None:
        """Record (or clear, with None) the phase this holder is in; only while the lease is ours."""
        if phase is None:
            update: list[dict[str, Any]] = [{"$unset": ["phase", "phase_token", "phase_since"]}]
        else:
            update = [{"$set": {"phase": phase, "phase_token": self.token, "phase_since": "$$NOW"}}]
        await self.coll.update_one({"_id": LOCK_ID, "token": self.token}, update)

    async def renew(self) -> bool:
        """Extend the lease from now; return False (and mark it lost) if another runner holds it."""
        lease_ms = int(self.lease_s * 1000)
        result = await self.coll.update_one(
            {"_id": LOCK_ID, "token": self.token},
            [{"$set": {"renewed_at": "$$NOW", "expires_at": {"$add": ["$$NOW", lease_ms]}}}],
        )
        if result.matched_count == 0:
            self.lost = True
            return False
        self._last_renewal = time.monotonic()
        return True

    async def confirm(self) -> None:
        """Renew the lease now and raise LockError if it was lost (the check before a commit)."""
        if not self.lost:
            await self.renew()
        self.check()

    async def set_transaction(self, lsid: Any) -> None:
        """Record (or clear, with None) the session id of the transaction this runner has open."""
        update = {"$set": {"txn_lsid": lsid}} if lsid is not None else {"$unset": {"txn_lsid": ""}}
        result = await self.coll.update_one({"_id": LOCK_ID, "token": self.token}, update)
        if result.matched_count == 0:
            self.lost = True

    async def _renew_forever(self) -> None:
        interval = max(self.lease_s / 3, 0.05)
        while self.held:
            await asyncio.sleep(interval)
            try:
                if not await self.renew():
                    log.error("lost the migration lock: another runner took it over")
                    return
            except PyMongoError as exc:
                log.warning("could not renew the migration lock: %s", exc)
                if time.monotonic() - self._last_renewal > self.lease_s:
                    self.lost = True
                    return

    def start_renewing(self) -> None:
        """Start renewing the lease in the background (every third of the lease)."""
        if self._renewer is None:
            self._renewer = asyncio.create_task(self._renew_forever(), name="migration-lock-renewal")

    async def stop_renewing(self) -> None:
        """Stop the background renewal."""
        task, self._renewer = self._renewer, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def check(self) -> None:
        """Raise LockError if the lease was lost (call at every safe point)."""
        if self.lost:
            raise LockError(
                "lost the migration lock: its lease expired and another runner took it over",
                hint="stopped before the next step; run analytiq-db status, then up again if needed",
            )

    async def release(self) -> None:
        """Stop renewing and delete the lease if still ours (best effort: logged, never raised)."""
        await self.stop_renewing()
        if not self.held:
            return
        self.held = False
        try:
            await self.coll.delete_one({"_id": LOCK_ID, "token": self.token})
        except PyMongoError as exc:
            log.warning("could not release the migration lock (it expires in %gs): %s", self.lease_s, exc)
