"""What every lease the tool keeps in a database shares, whoever keeps it (the migration and restore
locks of ``migrations.engine.lock``, a backup's claim on its destination in ``backup.claim``, the
busy markers ``backup.busy`` reads):

- the expiry, by the **server's** clock: ``expires_at`` set from ``$$NOW`` and compared with it
  (``expires_before_now``, ``renewal_fields``), never with a runner's clock;
- the holder, named the same way in every message (``describe_holder``);
- the renewal in the background every third of the lease (``RenewedLease``): a lease not renewed for
  a whole lease, or found taken by another holder, is *lost*.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from datetime import datetime
from typing import Any

from pymongo.errors import PyMongoError

from analytiq_data.liveness import ProcessIdentity

log = logging.getLogger(__name__)


def format_time(value: datetime) -> str:
    """Return a datetime as ``YYYY-MM-DD HH:MM:SS UTC``."""
    return value.strftime("%Y-%m-%d %H:%M:%S UTC")


def describe_holder(host: str, pid: Any, since: Any, *, started: str = " since ") -> str:
    """Return ``host (pid N) since 2024-05-01 10:00:00 UTC`` for messages (the pid and time when known).

    ``started`` is the words before the time (``", started "`` for a restore's mark).
    """
    who = host + (f" (pid {pid})" if pid is not None else "")
    return who + (f"{started}{format_time(since)}" if isinstance(since, datetime) else "")


def expires_before_now() -> dict[str, Any]:
    """Return the expression "``expires_at`` is before the server's now" (a missing expiry counts as past).

    Compared as milliseconds: SecantusDB evaluates a date compared with ``$$NOW`` as false both
    ways; ``$toLong`` on both sides is the same test on mongod and works there too.
    """
    return {"$lt": [{"$toLong": "$expires_at"}, {"$toLong": "$$NOW"}]}


def live_now() -> dict[str, Any]:
    """Return the expression "the lease has not ended by the server's clock" (``$addFields`` it as ``_live``)."""
    return {"$not": [expires_before_now()]}


def renewal_fields(lease_s: float) -> dict[str, Any]:
    """Return the ``$set`` fields (of an update pipeline) renewing a lease for ``lease_s`` from the server's now."""
    return {"renewed_at": "$$NOW", "expires_at": {"$add": ["$$NOW", int(lease_s * 1000)]}}


def holder_fields(me: ProcessIdentity) -> dict[str, Any]:
    """Return the ``$set`` fields (of an update pipeline) naming holder ``me`` (``liveness``: host, pid, identity)."""
    return {name: {"$literal": value} for name, value in me.record().items()}


class RenewedLease:
    """The background renewal a lease holder runs, every third of ``lease_s``.

    A subclass sets ``lease_s``, ``lost`` and ``what`` (``"the migration lock"``: for the log) and
    implements ``renew()`` (False, having set ``lost``, when another holder has the lease). A lease
    whose renewals fail for a whole ``lease_s`` counts as lost too: it may have expired meanwhile.
    """

    lease_s: float
    lost: bool
    what: str
    others: str = "another holder"  # who takes a lost lease over, for the log

    def __init__(self) -> None:
        self._renewer: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()
        self._renewed = time.monotonic()

    async def renew(self) -> bool:
        """Extend the lease from now; return False (and mark it lost) if it is no longer ours."""
        raise NotImplementedError

    def renewed(self) -> None:
        """Note a successful renewal (or the take): the whole lease from now is ours."""
        self._renewed = time.monotonic()

    async def _renew_forever(self, stop: asyncio.Event) -> None:
        interval = max(self.lease_s / 3, 0.05)
        while not self.lost:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), interval)  # a renewal period, or until asked to stop
            if stop.is_set():
                return
            try:
                if not await self.renew():
                    log.error("lost %s: %s took it over", self.what, self.others)
            except PyMongoError as exc:
                log.warning("could not renew %s: %s", self.what, exc)
                if time.monotonic() - self._renewed > self.lease_s:
                    self.lost = True

    def start_renewing(self) -> None:
        """Start renewing the lease in the background (once; again after it stopped)."""
        if self._renewer is None or self._renewer.done():
            self._stop = asyncio.Event()
            self._renewer = asyncio.create_task(self._renew_forever(self._stop), name=f"renewing {self.what}")

    async def stop_renewing(self) -> None:
        """Stop the background renewal; return once a renewal in flight has been answered.

        The renewal is let finish, not cancelled: a cancelled update may still reach the server after
        the caller removed the lease (a server that creates a database on any write, as SecantusDB
        does, would then bring a dropped lock database back). Cancelled while it waits, or finding the
        renewal cancelled (``asyncio.run`` cancels every task when a step's KeyboardInterrupt stops the
        loop), it cancels the renewal and returns, so that the caller still releases the lease.
        """
        task, self._renewer = self._renewer, None
        if task is None:
            return
        self._stop.set()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.shield(task)
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
