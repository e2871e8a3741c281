"""The turnstile that orders cursor openings: smallest first, also among readers starting together."""

from __future__ import annotations

import asyncio

import pytest

from analytiq_data.backup.batches import Turnstile


async def test_readers_starting_together_go_smallest_first() -> None:
    gate = Turnstile()
    order: list[int] = []

    async def reader(size: int) -> None:
        await gate.acquire(size)
        order.append(size)
        await asyncio.sleep(0)  # hold the turn across a loop iteration, as a real fetch would
        gate.release()

    await asyncio.gather(*(reader(size) for size in (80_000, 15_000, 3_000, 2_000)))

    assert order == [2_000, 3_000, 15_000, 80_000]


async def test_a_late_small_reader_waits_for_the_current_turn_only() -> None:
    gate = Turnstile()
    await gate.acquire(100)
    order: list[int] = []
    waiters = [asyncio.create_task(_take(gate, size, order)) for size in (50, 10)]
    await asyncio.sleep(0)
    assert order == []  # the turn is held
    gate.release()
    await asyncio.gather(*waiters)
    assert order == [10, 50]


async def test_a_cancelled_waiter_passes_the_turn_on() -> None:
    gate = Turnstile()
    await gate.acquire(1)
    doomed = asyncio.create_task(gate.acquire(2))
    order: list[int] = []
    patient = asyncio.create_task(_take(gate, 3, order))
    await asyncio.sleep(0)
    gate.release()  # hands the turn to the waiter of priority 2 ...
    doomed.cancel()  # ... which is cancelled before it runs: the turn must reach priority 3
    with pytest.raises(asyncio.CancelledError):
        await doomed
    await asyncio.wait_for(patient, 5)
    assert order == [3]


async def _take(gate: Turnstile, size: int, order: list[int]) -> None:
    await gate.acquire(size)
    order.append(size)
    gate.release()
