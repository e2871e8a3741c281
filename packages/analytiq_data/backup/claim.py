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
expired, or at once when its process is known to be gone (``liveness``: the claim records the
holder's host, pid, boot id, PID namespace and start time, so a run in another container with the
same host name is never taken for a dead one; the migration and restore locks judge the same way).
The lease itself is kept as every lease of the tool is (``lease``: the server's clock, renewed in
the background every third of it).
"""

from __future__ import annotations

import contextlib
import datetime
import logging
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from pymongo import WriteConcern
from pymongo.errors import DuplicateKeyError, PyMongoError

from analytiq_data.backup.catalog import STATE_COLLECTION
from analytiq_data.backup.endpoints import Side
from analytiq_data.errors import LockError
from analytiq_data.lease import RenewedLease, describe_holder, holder_fields, live_now, renewal_fields
from analytiq_data.liveness import holder_gone, is_this_process, this_process
from analytiq_data.progress import NULL_PROGRESS, Progress

log = logging.getLogger(__name__)

HOLDER_ID = "holder"
#: The run tokens of the claims this process holds now.
_RUNNING: set[str] = set()
#: How long a claim lasts without renewal (seconds); a run renews it every third of that.
LEASE_S = 30.0


@dataclass(frozen=True)
class Holder:
    """A claim as read: whose (run token, host, pid), since when, until when, whether its lease is live
    (by the server's clock) and whether its run is known to be over (``gone``: see ``run_over``)."""

    run: str
    host: str
    pid: int | None
    since: datetime.datetime | None
    expires_at: Any
    live: bool
    gone: bool = False

    def describe(self) -> str:
        """Return ``a backup on HOST (pid N) since … UTC``."""
        return f"a backup on {describe_holder(self.host, self.pid, self.since)}"


def run_over(doc: dict[str, Any]) -> bool:
    """Return whether the run a claim document names is known to be over: its process is gone
    (``liveness.holder_gone``), or it is this very process and that run has ended (e.g. failed, its
    server unreachable to release the claim). Anything not known is a live run."""
    if is_this_process(doc):
        return str(doc.get("run") or "") not in _RUNNING
    return holder_gone(doc)


def held_error(side: Side, holder: Holder | None) -> LockError:
    """Return the error for a destination another backup holds."""
    who = holder.describe() if holder is not None else "another backup"
    return LockError(
        f"another backup holds destination database {side.db.name!r} on {side.where}: {who}",
        hint="wait until it has finished (or stop it); a stopped run's claim is taken over once its lease "
        f"({LEASE_S:g}s) has expired, or at once on the same host",
    )


class DestinationClaim(RenewedLease):
    """This run's claim on a destination database: take, renew in the background, check, release."""

    def __init__(self, side: Side, *, lease_s: float = LEASE_S) -> None:
        super().__init__()
        self.side = side
        self.coll = side.db.get_collection(STATE_COLLECTION, write_concern=WriteConcern("majority"))
        self.lease_s = lease_s
        self.what, self.others = f"the claim on {side.db.name}", "another backup"
        self.run = uuid.uuid4().hex
        self.lost = False
        self.took_over: Holder | None = None

    async def read(self) -> Holder | None:
        """Return the destination's claim with ``live`` judged by the server's clock, or None."""
        pipeline: list[dict[str, Any]] = [
            {"$match": {"_id": HOLDER_ID}},
            {"$addFields": {"_live": live_now()}},
        ]
        async with self.side.errors("reading who holds the destination"):
            async for doc in await self.coll.aggregate(pipeline):
                pid, live = doc.get("pid"), bool(doc.get("_live"))
                return Holder(
                    str(doc.get("run") or ""),
                    str(doc.get("host") or "an unknown host"),
                    int(pid) if isinstance(pid, int) else None,
                    doc.get("since"),
                    doc.get("expires_at"),
                    live,
                    gone=live and run_over(doc),
                )
        return None

    def _lease(self, *, since: bool) -> list[dict[str, Any]]:
        fields = renewal_fields(self.lease_s)
        if since:
            fields = {"run": self.run, **holder_fields(this_process()), "since": "$$NOW", **fields}
        return [{"$set": fields}]

    async def take(self) -> None:
        """Claim the destination, or raise LockError naming the live holder; start renewing the lease.

        A claim whose lease expired, or whose run is known to be over (``run_over``), is taken over.
        """
        seen = await self.read()
        if seen is not None and seen.run == self.run:
            return
        if seen is not None and seen.live and not seen.gone:
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
        self.renewed()
        self.start_renewing()

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
        self.renewed()
        return True

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
        await self.stop_renewing()
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
        why = "its process is gone" if claim.took_over.gone else "its lease expired"
        progress.note(f"Took over the destination from {claim.took_over.describe()} ({why})")
    try:
        yield claim
    finally:
        await claim.release()
