"""One backup at a time per destination: a run claims the destination database before writing to it.

The claim is the document ``{_id: "holder"}`` in the destination's ``__backup_state`` (the
collection of the run's resume state, see ``state``): the run's token, host, pid, when it started,
and a lease ending at ``expires_at`` by the destination server's clock, renewed every third of the
lease while the run works. Another run meanwhile — a new backup, ``--drop`` or ``--resume`` —
finds the live claim and stops with LockError (exit code 5) naming the destination and the
holder, before it changes anything. Two runs starting at the same instant cannot both take it:
the claim is taken by one conditional write (an upsert on the ``_id``, or a replacement of the
exact expired claim read), which only one of them wins.

The claim ends with the run: a completed backup drops ``__backup_state`` altogether; a failed or
interrupted run deletes its claim and leaves the resume state for ``--resume`` (and no empty
collection). A run killed outright leaves its claim: another run takes it over once its lease has
expired, or at once when it names this host and its process no longer exists.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import logging
import os
import socket
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pymongo import WriteConcern
from pymongo.errors import DuplicateKeyError, PyMongoError

from analytiq_data.backup.catalog import STATE_COLLECTION
from analytiq_data.backup.endpoints import Side
from analytiq_data.errors import LockError
from analytiq_data.progress import NULL_PROGRESS, Progress

log = logging.getLogger(__name__)

HOLDER_ID = "holder"
#: The run tokens of the claims this process holds now.
_RUNNING: set[str] = set()
#: How long a claim lasts without renewal (seconds); a run renews it every third of that.
LEASE_S = 30.0


@dataclass(frozen=True)
class Holder:
    """A claim as read: whose (run token, host, pid), since when, until when, and whether still live."""

    run: str
    host: str
    pid: int | None
    since: datetime.datetime | None
    expires_at: Any
    live: bool

    def describe(self) -> str:
        """Return ``a backup on HOST (pid N) since … UTC``."""
        pid = f" (pid {self.pid})" if self.pid is not None else ""
        since = f" since {self.since:%Y-%m-%d %H:%M:%S} UTC" if self.since is not None else ""
        return f"a backup on {self.host}{pid}{since}"

    def gone_here(self) -> bool:
        """Return whether the holder ran on this host and is over: its process no longer exists, or it
        is this process and the run has ended (e.g. failed, its server unreachable to release it)."""
        if self.host != socket.gethostname() or self.pid is None:
            return False
        if self.pid == os.getpid():
            return self.run not in _RUNNING
        return not process_alive(self.pid)


def process_alive(pid: int) -> bool:
    """Return whether process ``pid`` exists on this host and is not a zombie (killed, not yet reaped)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: it exists
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True  # no /proc (not Linux): kill(0) said it exists
    return stat.rsplit(")", 1)[-1].split()[:1] != ["Z"]


def held_error(side: Side, holder: Holder | None) -> LockError:
    """Return the error for a destination another backup holds."""
    who = holder.describe() if holder is not None else "another backup"
    return LockError(
        f"another backup holds destination database {side.db.name!r} on {side.where}: {who}",
        hint="wait until it has finished (or stop it); a stopped run's claim is taken over once its lease "
        f"({LEASE_S:g}s) has expired, or at once on the same host",
    )


class DestinationClaim:
    """This run's claim on a destination database: take, renew in the background, check, release."""

    def __init__(self, side: Side, *, lease_s: float = LEASE_S) -> None:
        self.side = side
        self.coll = side.db.get_collection(STATE_COLLECTION, write_concern=WriteConcern("majority"))
        self.lease_s = lease_s
        self.run = uuid.uuid4().hex
        self.lost = False
        self.took_over: Holder | None = None
        self._renewer: asyncio.Task[None] | None = None
        self._renewed = 0.0

    async def read(self) -> Holder | None:
        """Return the destination's claim with ``live`` judged by the server's clock, or None."""
        pipeline: list[dict[str, Any]] = [
            {"$match": {"_id": HOLDER_ID}},
            # As milliseconds: SecantusDB compares a date with $$NOW as false both ways (see engine.lock).
            {"$addFields": {"_live": {"$gte": [{"$toLong": "$expires_at"}, {"$toLong": "$$NOW"}]}}},
        ]
        async with self.side.errors("reading who holds the destination"):
            async for doc in await self.coll.aggregate(pipeline):
                pid = doc.get("pid")
                return Holder(
                    str(doc.get("run") or ""),
                    str(doc.get("host") or "an unknown host"),
                    int(pid) if isinstance(pid, int) else None,
                    doc.get("since"),
                    doc.get("expires_at"),
                    bool(doc.get("_live")),
                )
        return None

    def _lease(self, *, since: bool) -> list[dict[str, Any]]:
        fields: dict[str, Any] = {"renewed_at": "$$NOW", "expires_at": {"$add": ["$$NOW", int(self.lease_s * 1000)]}}
        if since:
            fields = {"run": self.run, "host": socket.gethostname(), "pid": os.getpid(), "since": "$$NOW", **fields}
        return [{"$set": fields}]

    async def take(self) -> None:
        """Claim the destination, or raise LockError naming the live holder; start renewing the lease.

        A claim whose lease expired, or whose process is gone from this host, is taken over.
        """
        seen = await self.read()
        if seen is not None and seen.run == self.run:
            return
        if seen is not None and seen.live and not seen.gone_here():
            raise held_error(self.side, seen)
        _RUNNING.add(self.run)  # before the write: a claim of this process seen meanwhile is a live one
        try:
            won = await self._write(seen)
        except BaseException:
            _RUNNING.discard(self.run)
            raise
        if not won:
            _RUNNING.discard(self.run)
            raise held_error(self.side, await self.read())
        if seen is not None:
            self.took_over = seen
            log.warning("took over the claim on %s of %s", self.side.db.name, seen.describe())
        self.lost = False
        self._renewed = time.monotonic()
        if self._renewer is None or self._renewer.done():
            self._renewer = asyncio.create_task(self._renew_forever(), name="backup-claim-renewal")

    async def _write(self, seen: Holder | None) -> bool:
        """Write this run's claim where ``seen`` (None: no claim) stands; return whether it won."""
        async with self.side.errors("claiming the destination"):
            try:
                if seen is None:  # an insert in effect: fails if another run's claim appeared meanwhile
                    done = await self.coll.update_one(
                        {"_id": HOLDER_ID, "run": self.run}, self._lease(since=True), upsert=True
                    )
                else:  # replace exactly the expired (or dead) claim read, not one renewed meanwhile
                    query = {"_id": HOLDER_ID, "run": seen.run, "expires_at": seen.expires_at}
                    done = await self.coll.update_one(query, self._lease(since=True))
                return done.upserted_id is not None or done.modified_count == 1
            except DuplicateKeyError:
                return False

    async def renew(self) -> bool:
        """Extend the lease from now; return False (and mark the claim lost) if it is no longer ours."""
        done = await self.coll.update_one({"_id": HOLDER_ID, "run": self.run}, self._lease(since=False))
        if done.matched_count == 0:
            self.lost = True
            return False
        self._renewed = time.monotonic()
        return True

    async def _renew_forever(self) -> None:
        while not self.lost:
            await asyncio.sleep(self.lease_s / 3)  # a renewal period, not a synchronisation
            try:
                if not await self.renew():
                    log.error("lost the claim on %s: another backup took it over", self.side.db.name)
            except PyMongoError as exc:
                log.warning("could not renew the claim on %s: %s", self.side.db.name, exc)
                if time.monotonic() - self._renewed > self.lease_s:
                    self.lost = True

    def check(self) -> None:
        """Raise LockError if the claim was lost (another backup may have written to the destination)."""
        if self.lost:
            raise LockError(
                f"lost the claim on destination database {self.side.db.name!r} on {self.side.where}: "
                "another backup took it over while this one copied",
                hint="this copy is not to be trusted; run the backup again when the other one has finished",
            )

    async def release(self) -> None:
        """Stop renewing and delete the claim if still ours; drop ``__backup_state`` if nothing else is in it.

        Best effort (logged, never raised): an unreleased claim expires on its own.
        """
        _RUNNING.discard(self.run)
        task, self._renewer = self._renewer, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        try:
            await self.coll.delete_one({"_id": HOLDER_ID, "run": self.run})
            if await self.coll.count_documents({}, limit=1) == 0:
                await self.coll.drop()  # no resume state either: leave nothing of ours behind
        except PyMongoError as exc:
            log.warning("could not release the claim on %s (it expires on its own): %s", self.side.db.name, exc)


@contextlib.asynccontextmanager
async def claimed(side: Side, progress: Progress = NULL_PROGRESS) -> AsyncIterator[DestinationClaim]:
    """Hold the claim on ``side``'s database for the block (LockError if another backup holds it)."""
    claim = DestinationClaim(side)
    await claim.take()
    if claim.took_over is not None:
        why = "its lease expired" if not claim.took_over.live else "its process is gone"
        progress.note(f"Took over the destination from {claim.took_over.describe()} ({why})")
    try:
        yield claim
    finally:
        await claim.release()
