"""What every lease of the tool shares (``analytiq_data/lease.py``): one way of naming a holder in messages,
one renewal loop (review finding 2: four formatters, two renewal loops, three expiry expressions)."""

from __future__ import annotations

import asyncio
import datetime

from pymongo.errors import AutoReconnect

from analytiq_data.backup.busy import MARKERS, Busy
from analytiq_data.backup.claim import Holder
from analytiq_data.lease import RenewedLease, describe_holder
from analytiq_data.migrations.engine.lockinfo import LockInfo
from analytiq_data.restore_mark import MARK_COLLECTION, RestoreMark

AT = datetime.datetime(2024, 5, 1, 10, 0, 0)


def test_every_holder_is_named_the_same_way() -> None:
    assert describe_holder("web-7", 42, AT) == "web-7 (pid 42) since 2024-05-01 10:00:00 UTC"
    assert describe_holder("web-7", None, None) == "web-7"
    assert describe_holder("web-7", 42, "not a time") == "web-7 (pid 42)"
    lock = LockInfo.from_doc({"host": "web-7", "pid": 42, "locked_at": AT, "token": "t"}, live=True)
    assert lock.describe() == "web-7 (pid 42) since 2024-05-01 10:00:00 UTC"
    claim = Holder("run", "web-7", 42, AT, None, live=True)
    assert claim.describe() == "a backup on web-7 (pid 42) since 2024-05-01 10:00:00 UTC"
    busy = Busy("migration_lock", "web-7", 42, AT, "up")
    assert busy.describe() == (
        "the migration lock ('migration_lock') held by web-7 (pid 42) since 2024-05-01 10:00:00 UTC, in its up phase"
    )
    mark = RestoreMark.from_doc({"host": "web-7", "pid": 42, "started_at": AT})
    assert mark.who() == "web-7 (pid 42), started 2024-05-01 10:00:00 UTC"


def test_a_restore_mark_is_busy_by_its_own_words_not_as_a_lease() -> None:
    """The mark has no lease: it is not among the expiring markers, and it is still described (finding 12)."""
    assert MARK_COLLECTION not in MARKERS
    assert Busy(MARK_COLLECTION, "web-7", 42).describe() == "an unfinished restore ('__restore') held by web-7 (pid 42)"


class _Lease(RenewedLease):
    def __init__(self, answers: list[bool | Exception]) -> None:
        super().__init__()
        self.lease_s, self.lost, self.what = 0.15, False, "the test lease"
        self.answers = answers
        self.calls = 0

    async def renew(self) -> bool:
        self.calls += 1
        answer = self.answers[min(self.calls, len(self.answers)) - 1]
        if isinstance(answer, Exception):
            raise answer
        if answer:
            self.renewed()
        else:
            self.lost = True
        return answer


async def _renewals_end(lease: _Lease) -> None:
    lease.start_renewing()
    task = lease._renewer
    assert task is not None
    await asyncio.wait_for(task, 30)  # the loop ends by itself once the lease is lost
    await lease.stop_renewing()


async def test_a_lease_another_holder_took_is_lost_and_no_longer_renewed() -> None:
    lease = _Lease([True, True, False])
    await _renewals_end(lease)
    assert lease.lost and lease.calls == 3


async def test_a_lease_not_renewed_for_a_whole_lease_is_lost() -> None:
    lease = _Lease([AutoReconnect("unreachable")])
    await _renewals_end(lease)
    assert lease.lost and lease.calls >= 3  # every third of the lease, until a whole lease went by


class _SlowLease(RenewedLease):
    """A lease whose renewal waits for the test to answer it, as an update in flight waits for the server."""

    lease_s, lost, what = 0.15, False, "a slow lease"

    def __init__(self) -> None:
        super().__init__()
        self.in_flight, self.answer = asyncio.Event(), asyncio.Event()
        self.finished = self.cancelled = 0

    async def renew(self) -> bool:
        self.in_flight.set()
        try:
            await self.answer.wait()
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        self.finished += 1
        self.renewed()
        return True


async def test_stopping_lets_a_renewal_in_flight_finish_before_it_returns() -> None:
    # A cancelled update may still reach the server after the caller removed the lease (on SecantusDB,
    # which creates a database on any write, a dropped restore-lock database came back).
    lease = _SlowLease()
    lease.start_renewing()
    await asyncio.wait_for(lease.in_flight.wait(), 30)
    stopping = asyncio.ensure_future(lease.stop_renewing())
    await asyncio.sleep(0)  # let stop_renewing run up to its wait
    assert not stopping.done()  # still waiting for the renewal's answer
    lease.answer.set()
    await asyncio.wait_for(stopping, 30)
    assert (lease.finished, lease.cancelled) == (1, 0)
    lease.in_flight.clear()
    lease.start_renewing()  # renewing again after a stop works, and stops between renewals at once
    await lease.stop_renewing()
    assert lease._renewer is None


async def test_stopping_cancelled_cancels_the_renewal_in_flight_and_returns() -> None:
    # The caller goes on to release the lease (the old behaviour, kept: a release must not be skipped).
    lease = _SlowLease()
    lease.start_renewing()
    await asyncio.wait_for(lease.in_flight.wait(), 30)
    stopping = asyncio.ensure_future(lease.stop_renewing())
    await asyncio.sleep(0)
    stopping.cancel()
    await stopping
    assert lease.cancelled == 1 and lease.finished == 0


async def test_stopping_a_renewal_cancelled_by_someone_else_returns() -> None:
    # asyncio.run cancels every task (the renewal too) when a step's KeyboardInterrupt stops the loop;
    # the run's release must still get past stop_renewing to delete the lease.
    lease = _SlowLease()
    lease.start_renewing()
    await asyncio.wait_for(lease.in_flight.wait(), 30)
    assert lease._renewer is not None
    lease._renewer.cancel()
    await asyncio.wait_for(lease.stop_renewing(), 30)
    assert lease.cancelled == 1 and lease._renewer is None
