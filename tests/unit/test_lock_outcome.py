"""The lock's pure parts: what a waiter says, the timeout error, and the phase read from a lock document."""

from __future__ import annotations

from datetime import UTC, datetime

from analytiq_data.errors import ExitCode
from analytiq_data.migrations.engine.lock import Acquisition, LockInfo, held_error, note_waiting
from tests.recorders import Notes

AT = datetime(2026, 5, 1, 10, 0, tzinfo=UTC)



def _holder(**doc: object) -> LockInfo:
    base = {"holder": "pod-1", "host": "pod-1", "pid": 7, "token": "t1", "locked_at": AT, "expires_at": AT}
    return LockInfo.from_doc({**base, **doc}, live=True)


def test_a_phase_counts_only_with_the_live_leases_token() -> None:
    assert _holder(phase="backup", phase_token="t1").phase == "backup"
    assert _holder(phase="backup", phase_token="t0").phase is None  # left by an earlier holder
    assert (
        LockInfo.from_doc({"holder": "pod-1", "token": "t1", "phase": "backup", "phase_token": "t1"}, live=False).phase
        is None
    )


def test_a_waiter_says_once_that_it_waits_and_once_per_phase() -> None:
    notes, noted = Notes(), set[str]()
    for holder in [
        _holder(),
        _holder(),
        _holder(phase="backup", phase_token="t1"),
        _holder(phase="backup", phase_token="t1"),
    ]:
        note_waiting(notes, holder, 120, noted)
    assert notes.lines == [
        "waiting up to 120s for the migration lock held by pod-1 (pid 7) since 2026-05-01 10:00:00 UTC",
        "the lock holder is in its backup phase: waiting for it (not counted in the lock wait)",
    ]


def test_the_timeout_error_names_the_holder_and_its_lease() -> None:
    error = held_error(_holder(), 0.3)
    assert error.exit_code == ExitCode.LOCK
    assert error.message == (
        "migration lock held by pod-1 (pid 7) since 2026-05-01 10:00:00 UTC (waited 0.3s); "
        "its lease ends at 2026-05-01 10:00:00 UTC"
    )
    assert held_error(None, 5).message == "migration lock held by another runner (waited 5s)"


def test_an_acquisition_says_whether_another_runner_held_the_lock() -> None:
    assert not Acquisition("held", None, 0.0).waited_for_another
    assert Acquisition("held", _holder(), 2.5).waited_for_another
