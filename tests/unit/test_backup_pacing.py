"""The write-concurrency controller, fed synthetic writes (no server, no clock); the asyncio gate and pacer."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable

import pytest

from analytiq_data.backup.pacing import ConcurrencyController, Gate, WritePacer

DOCS, NBYTES = 1000, 700_000


def simulate(
    controller: ConcurrencyController,
    service: Callable[[int, float], float],
    *,
    servers: int = 1,
    writes: int = 400,
    demand: int = 64,
) -> list[int]:
    """Run ``writes`` writes through ``controller`` against a simulated destination; return the levels seen.

    The destination serves writes first come, first served, ``servers`` at a time; a write takes
    ``service(k, t)`` seconds of service when it starts with ``k`` writes in flight at time ``t``
    (waiting for a free server comes on top). ``demand`` writers want to write at once: those
    beyond the level wait and are reported with ``waited()`` (demand 1: nothing ever waits).
    """
    now, issued, levels = 0.0, 0, []
    free = [0.0] * servers  # when each server is next free
    in_flight: list[tuple[float, float]] = []  # (finish, start)

    def fill() -> None:
        nonlocal issued
        while len(in_flight) < min(controller.limit, demand) and issued < writes:
            if demand > controller.limit and issued >= controller.limit:
                controller.waited()
            i = free.index(min(free))
            begin = max(now, free[i])
            free[i] = begin + service(len(in_flight) + 1, now)
            in_flight.append((free[i], now))
            issued += 1
        in_flight.sort()

    fill()
    while in_flight:
        finish, start = in_flight.pop(0)
        now = finish
        levels.append(controller.completed(start, finish, DOCS, NBYTES))
        fill()
    return levels


def serial(service: float) -> Callable[[int, float], float]:
    """A write's service time on a server that writes on one thread (simulate with servers=1)."""
    return lambda k, t: service


def test_a_serial_server_stays_at_one_write_in_flight() -> None:
    c = ConcurrencyController(8)
    levels = simulate(c, serial(0.5))
    report = c.report()
    assert report.final == 1
    assert report.highest <= 2  # it tries a second write now and then, and goes back
    assert report.mean < 1.3
    assert levels.count(1) > 0.8 * len(levels)


def test_a_server_that_thrashes_stays_at_one() -> None:
    c = ConcurrencyController(8)
    simulate(c, lambda k, t: 0.4 * k)  # one thread, and every extra writer slows each write
    assert c.report().final == 1
    assert c.report().mean < 1.3


def test_a_parallel_server_gets_more_writers_up_to_what_it_absorbs() -> None:
    c = ConcurrencyController(16)
    simulate(c, serial(0.05), servers=6, writes=1500)
    report = c.report()
    assert 5 <= report.final <= 8
    assert report.highest <= 8
    assert report.lowest == 1 and report.changes[0][1] == 2


def test_the_ceiling_is_never_passed() -> None:
    c = ConcurrencyController(4)
    levels = simulate(c, serial(0.05), servers=100, writes=1000)
    assert max(levels) == 4
    assert c.report().final == 4


def test_no_trial_while_writers_do_not_wait() -> None:
    """Writes limited by what is read, not by the level: raising it would only add load."""
    c = ConcurrencyController(8)
    simulate(c, serial(0.05), servers=100, writes=500, demand=1)
    assert c.report().highest == 1


def test_backs_off_when_the_destination_gets_slower() -> None:
    c = ConcurrencyController(8)
    # parallel at first; from t=20 s every write takes 5 times longer (an index build, other load)
    simulate(c, lambda k, t: 0.05 * (5.0 if t > 20 else 1.0), servers=8, writes=3000)
    levels = [level for _, level in c.report().changes]
    assert 8 in levels
    assert levels.index(8) < len(levels) - 1  # it came down from 8
    assert min(levels[levels.index(8) :]) <= 4  # halved


def test_noise_does_not_walk_a_serial_server_up() -> None:
    rng = random.Random(7)
    c = ConcurrencyController(8)
    simulate(c, lambda k, t: 0.5 * rng.uniform(0.7, 1.3), writes=600)
    assert c.report().mean < 1.5
    assert c.report().final <= 2


def test_writes_begun_before_a_change_are_not_counted() -> None:
    c = ConcurrencyController(8, min_batches=2, min_window_s=0.0)
    for t in range(2):  # a first window at level 1, all writers waiting: try level 2
        c.waited()
        c.completed(float(t), float(t + 1), DOCS, NBYTES)
    assert c.limit == 2
    # a write started at 0.5 (under level 1) finishing fast would look like a big gain; it is ignored
    for _ in range(10):
        c.completed(0.5, 2.01, DOCS, NBYTES)
    assert c.limit == 2


def test_report_figures() -> None:
    c = ConcurrencyController(4)
    simulate(c, serial(0.1), servers=100, writes=200)
    report = c.report()
    data = report.to_dict()
    assert data["ceiling"] == 4 and data["final"] == 4 and data["batches"] == 200
    assert 1.0 < data["mean"] <= 4.0
    assert data["changes"][0][1] == 2
    assert report.describe().startswith("1-4 writes in flight (mean ")
    assert report.describe().endswith(", at most 4)")


def test_bad_ceiling() -> None:
    with pytest.raises(ValueError):
        ConcurrencyController(0)


async def test_gate_follows_its_limit_in_order() -> None:
    size = 1
    gate = Gate(lambda: size)
    order: list[int] = []

    async def holder(i: int, release: asyncio.Event) -> None:
        async with gate:
            order.append(i)
            await release.wait()

    events = [asyncio.Event() for _ in range(4)]
    tasks = [asyncio.create_task(holder(i, events[i])) for i in range(4)]
    for _ in range(5):
        await asyncio.sleep(0)
    assert order == [0] and gate.in_use == 1
    size = 3
    gate.wake()
    for _ in range(5):
        await asyncio.sleep(0)
    assert order == [0, 1, 2] and gate.in_use == 3
    size = 1  # shrinking: holders keep their place, nobody new gets in until below the limit
    events[0].set()
    events[1].set()
    for _ in range(5):
        await asyncio.sleep(0)
    assert order == [0, 1, 2]
    events[2].set()
    for _ in range(5):
        await asyncio.sleep(0)
    assert order == [0, 1, 2, 3]
    events[3].set()
    await asyncio.gather(*tasks)
    assert gate.in_use == 0


async def test_gate_cancelled_waiter_gives_its_place_on() -> None:
    gate = Gate(lambda: 1)
    assert await gate.acquire() is False
    waiter = asyncio.create_task(gate.acquire())
    second = asyncio.create_task(gate.acquire())
    await asyncio.sleep(0)
    waiter.cancel()
    gate.release()
    assert await second is True
    assert gate.in_use == 1
    gate.release()
    assert gate.in_use == 0


async def test_pacer_measures_writes_and_releases_failed_ones() -> None:
    clock = iter(float(i) for i in range(1000))
    pacer = WritePacer(ConcurrencyController(4, min_batches=2, min_window_s=0.0), clock=lambda: next(clock))

    async def ok() -> str:
        return "done"

    async def boom() -> None:
        raise RuntimeError("refused")

    assert await pacer.run(ok, 10, 100) == "done"
    with pytest.raises(RuntimeError):
        await pacer.run(boom, 10, 100)
    assert pacer.permits.in_use == 0
    assert pacer.report().batches == 1  # the failed write is not measured
