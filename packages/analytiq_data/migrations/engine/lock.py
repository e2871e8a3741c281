"""One runner at a time: a lease in collection ``migration_lock`` that expires by the server's clock.

The lease is one document, ``{_id: "migration_lock", holder, host, pid, boot_id, pid_ns, pid_start,
token, locked_at, expires_at, renewed_at, lease_s, txn_lsid, step}``. It is taken atomically with
``find_one_and_update`` (upsert on the fixed ``_id``, filtered on ``expires_at < $$NOW``, compared
in milliseconds): a live lease makes the upsert hit a duplicate key, so exactly one runner wins. ``expires_at`` is
computed from ``$$NOW``, so the server's clock decides, never a runner's. A background task
renews the lease while steps run; a runner whose renewal finds another token has lost the lease
and stops before its next step.

``MigrationLock.acquire`` waits and returns an ``Acquisition`` (held / stopped / timed out); it
decides nothing about the database. Callers read the state only once they hold the lease: while
another runner holds it, what the database records is a run in progress, not its end state.

The original code's lock, ``{_id: "migration_lock", holder, locked_at, expires_at}`` (host name
only, 300 s, never renewed), is respected the same way until it expires.

A holder known to be gone — it ran on this host, in this PID namespace, and its process no longer
exists (``liveness``: host name, boot id, PID namespace and process start time guard against
containers sharing a host name and against a reused pid) — is taken over at once, without waiting
for its lease to end; ``read_lock`` reports it (``holder_gone``) so ``status`` and ``unlock`` say
so. A holder elsewhere is waited out until its lease ends.

A run started inside a run holding the same lease (a step calling ``run_migrations``) would wait
for itself: it raises NestedRunError at once instead (``nested``; ``running_under`` marks the run's
hooks and steps).

When the lease of a dead runner is taken over, the transaction it had open (its session id is kept
in ``txn_lsid``) is killed with ``killSessions``: on mongod a killed client's transaction keeps its
locks until ``transactionLifetimeLimitSeconds``, which would block the new runner.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Protocol

from pymongo import ReturnDocument, WriteConcern
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError, PyMongoError

from analytiq_data.errors import LockError
from analytiq_data.lease import RenewedLease, expires_before_now, format_time, holder_fields, live_now, renewal_fields
from analytiq_data.liveness import holder_gone, this_process
from analytiq_data.migrations.engine.lockinfo import (
    LOCK_COLLECTION,
    LOCK_ID,
    LockInfo,
    RunningStep,
    held_error,
    note_waiting,
    takeover_line,
)
from analytiq_data.migrations.engine.nested import NestedRunError, held_here, refuse_nested, working_under
from analytiq_data.progress import NULL_PROGRESS, Progress

log = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_LEASE_S",
    "DEFAULT_LOCK_WAIT_S",
    "LOCK_COLLECTION",
    "LOCK_ID",
    "Acquisition",
    "LockInfo",
    "MigrationLock",
    "NestedRunError",
    "RunningStep",
    "delete_lock",
    "format_time",
    "held_error",
    "note_waiting",
    "read_lock",
    "refuse_nested",
]

DEFAULT_LEASE_S = 30.0
DEFAULT_LOCK_WAIT_S = 120.0


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


async def read_lock(db: AsyncDatabase[Any], collection: str = LOCK_COLLECTION) -> LockInfo | None:
    """Return the lock document of ``collection``, or None if there is none: ``live`` judged by the
    server's clock and by whether its holder is known to be gone from this host (``liveness``)."""
    pipeline: list[dict[str, Any]] = [
        {"$match": {"_id": LOCK_ID}},
        {"$addFields": {"_live": live_now(), "_now": "$$NOW"}},
    ]
    async for doc in await db[collection].aggregate(pipeline):
        live, now = bool(doc.pop("_live", False)), doc.pop("_now", None)
        gone = live and holder_gone(doc)
        return LockInfo.from_doc(doc, live=live, gone=gone, now=now if isinstance(now, datetime) else None)
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


async def delete_lock(db: AsyncDatabase[Any], info: LockInfo, collection: str = LOCK_COLLECTION) -> bool:
    """Delete the lock document if it is still the one described by ``info``; return whether it was."""
    query: dict[str, Any] = {"_id": LOCK_ID, "holder": info.holder, "locked_at": info.locked_at}
    if info.token is not None:
        query["token"] = info.token
    coll = db.get_collection(collection, write_concern=WriteConcern("majority"))
    result = await coll.delete_one(query)
    if result.deleted_count and info.txn_lsid is not None:
        await kill_session(db, info.txn_lsid)
    return bool(result.deleted_count)


class MigrationLock(RenewedLease):
    """This runner's lease: acquire (waiting up to a bound), renew in the background, release.

    ``collection`` is where the lease document lives (``migration_lock`` unless a caller keeps its
    lock elsewhere); everything here, dead-holder takeover included, works the same in any.
    """

    def __init__(
        self, db: AsyncDatabase[Any], *, lease_s: float = DEFAULT_LEASE_S, collection: str = LOCK_COLLECTION
    ) -> None:
        if lease_s <= 0:
            raise ValueError("lease_s must be positive")
        super().__init__()
        self.what, self.others = "the migration lock", "another runner"
        self.db = db
        self.collection = collection
        self.coll = db.get_collection(collection, write_concern=WriteConcern("majority"))
        self.lease_s = lease_s
        self.me = this_process()
        self.host = self.me.host
        self.pid = os.getpid()
        self.token = uuid.uuid4().hex
        self.held = False
        self.lost = False
        self.took_over: LockInfo | None = None  # the lease this runner replaced (expired, or its holder gone)

    def _lease_update(self) -> list[dict[str, Any]]:
        return [
            {
                "$set": {
                    "holder": self.host,
                    **holder_fields(self.me),
                    "token": self.token,
                    "lease_s": self.lease_s,
                    "locked_at": "$$NOW",
                    **renewal_fields(self.lease_s),
                }
            },
            {"$unset": ["txn_lsid", "step", "phase", "phase_token", "phase_since"]},
        ]

    async def try_acquire(self) -> bool:
        """Take the lease if it is free or expired; return whether this runner now holds it."""
        return await self._attempt() is None

    async def _attempt(self) -> LockInfo | None:
        """Take the lease if it is free, expired or its holder is gone: None once held, else the live
        holder as read. Raise NestedRunError if the live holder is a run enclosing this one.

        A gone holder's lease is replaced only while it is still that holder's (its token in the
        filter). Who won is decided by reading back this runner's token (``ReturnDocument.AFTER``),
        not by the pre-image: under a race the pre-image a server returns may be stale.
        """
        previous = await read_lock(self.db, self.collection)
        if previous is not None and previous.live:
            if previous.token is not None and previous.token in held_here():
                raise NestedRunError(self.db.name, previous)
            return previous
        query: dict[str, Any] = {"_id": LOCK_ID, "$expr": expires_before_now()}
        if previous is not None and previous.holder_gone:
            query = {"_id": LOCK_ID, "token": previous.token}
        try:
            after = await self.coll.find_one_and_update(
                query, self._lease_update(), upsert=True, return_document=ReturnDocument.AFTER
            )
        except DuplicateKeyError:
            after = None
        if after is None or after.get("token") != self.token:
            winner = await read_lock(self.db, self.collection)  # lost a race: say who won
            return winner if winner is not None else LockInfo.from_doc({"holder": "another runner"}, live=True)
        self.held, self.lost = True, False
        self.renewed()
        if previous is not None:
            self.took_over = previous
            log.warning("%s", takeover_line(previous))
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
        counted: the holder is alive and working. A lease whose holder is gone from this host is
        taken over at once. Decides nothing about the database: the caller reads the state once
        it holds the lease. Notes the wait, and a takeover, once on ``progress``. Raises
        NestedRunError when the holder is a run enclosing this one (it would wait for itself).
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
                if self.took_over is not None:
                    progress.note(takeover_line(self.took_over))
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

    async def renew(self, *, step: Mapping[str, Any] | None = None) -> bool:
        """Extend the lease from now; return False (and mark it lost) if another runner holds it.

        ``step`` (version, name, direction, time_limit_s) records the step starting now, for
        ``status`` (which shows how long it has been running).
        """
        fields = renewal_fields(self.lease_s)
        if step is not None:
            fields["step"] = {**{k: {"$literal": v} for k, v in step.items()}, "started_at": "$$NOW"}
        result = await self.coll.update_one({"_id": LOCK_ID, "token": self.token}, [{"$set": fields}])
        if result.matched_count == 0:
            self.lost = True
            return False
        self.renewed()
        return True

    async def clear_step(self) -> None:
        """Forget the step recorded by ``renew(step=…)`` (no step is running now); best effort: only
        ``status`` reads it, and the lease's release removes it anyway."""
        try:
            await self.coll.update_one({"_id": LOCK_ID, "token": self.token}, [{"$unset": ["step"]}])
        except PyMongoError as exc:
            log.warning("could not clear the running step from the lock: %s", exc)

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

    def start_renewing(self) -> None:
        """Start renewing the lease in the background (every third of the lease), while it is held."""
        if self.held:
            super().start_renewing()

    def check(self) -> None:
        """Raise LockError if the lease was lost (call at every safe point)."""
        if self.lost:
            raise LockError(
                "lost the migration lock: its lease expired and another runner took it over",
                hint="stopped before the next step; run analytiq-db status, then up again if needed",
            )

    def running_under(self) -> contextlib.AbstractContextManager[None]:
        """Mark the block (a run's hooks and steps, and the tasks they start) as working under this
        lease: a run started from it on the same lock is nested and raises NestedRunError."""
        return working_under(self.token)

    async def abandon(self) -> None:
        """Stop renewing and let the lease end by itself (``lease_s`` from its last renewal), without
        deleting it: for a step that overran its time limit and did not stop when cancelled. The lease
        counts as lost from now on, so that step can commit nothing (``confirm``/``check`` raise)."""
        await self.stop_renewing()
        self.held, self.lost = False, True

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
