"""How many writes to keep in flight: as many as the destination absorbs, measured while copying.

A fixed number is wrong both ways. A server that writes on one thread (SecantusDB) gains nothing
from a second insert in flight and thrashes with eight (single inserts then take tens of seconds);
mongod takes several writers in parallel and copies faster with them. So the level is found by
measuring, like TCP's congestion window (additive increase, multiplicative decrease):

- start at one write in flight;
- measure a window of completed writes (throughput in documents/s and bytes/s, latency per
  document); when writes were waiting for a permit (the level, not the reader, was the limit),
  try one more in flight;
- keep the extra one only if throughput grew by ``gain`` (10%); otherwise go back, and wait
  longer before the next try (1, 2, 4 … ``max_hold`` windows);
- halve the level when latency per document grows by ``latency_factor`` without throughput
  growing (the destination got slower: an index build, other load).

``ConcurrencyController`` is pure: it is told times, never reads a clock, so it is tested by feeding
it synthetic writes. ``Gate`` and ``WritePacer`` are the asyncio side: permits for writes in flight,
released after each write and reported to the controller. Nothing here knows what the writes are
(inserts on a server, chunks of a file): any destination can be paced with it.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

T = TypeVar("T")

#: Level changes kept for the report (the first ones; a copy rarely changes more often).
MAX_CHANGES = 40


@dataclass(frozen=True)
class ConcurrencyReport:
    """The levels a run used: writes in flight, chosen within ``1..ceiling`` by the controller.

    ``mean`` is weighted by time (from the first write to the last); ``changes`` lists
    ``(seconds since the first write, level)`` for the first ``MAX_CHANGES`` changes.
    """

    ceiling: int
    final: int
    lowest: int
    highest: int
    mean: float
    batches: int
    changes: tuple[tuple[float, int], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """Return the report as JSON-ready data."""
        return {
            "ceiling": self.ceiling,
            "final": self.final,
            "lowest": self.lowest,
            "highest": self.highest,
            "mean": round(self.mean, 2),
            "batches": self.batches,
            "changes": [[round(t, 2), level] for t, level in self.changes],
        }

    def describe(self) -> str:
        """Return one line: the levels used, e.g. ``1-2 writes in flight (mean 1.3, at most 8)``."""
        levels = f"{self.lowest}" if self.lowest == self.highest else f"{self.lowest}-{self.highest}"
        noun = "write" if self.highest == 1 else "writes"
        return f"{levels} {noun} in flight (mean {self.mean:.1f}, at most {self.ceiling})"


@dataclass
class _Window:
    """Writes that started at the current level, completed so far."""

    start: float
    count: int = 0
    waits: int = 0
    docs: int = 0
    nbytes: int = 0
    latency: float = 0.0
    first: float = 0.0  # when the first write of the window completed
    last: float = 0.0
    rate_docs: int = 0  # documents and bytes completed after the first write (the rate's numerator)
    rate_bytes: int = 0


@dataclass(frozen=True)
class _Measure:
    """One window's figures: throughput and latency per document."""

    docs_per_s: float
    bytes_per_s: float
    latency_per_doc: float

    def ratio(self, base: _Measure) -> float:
        """Return throughput relative to ``base``: the geometric mean of the docs/s and bytes/s ratios."""
        d = self.docs_per_s / base.docs_per_s if base.docs_per_s > 0 else 1.0
        b = self.bytes_per_s / base.bytes_per_s if base.bytes_per_s > 0 else 1.0
        return math.sqrt(max(d, 1e-9) * max(b, 1e-9))

    def slower(self, base: _Measure) -> float:
        """Return how many times longer a document takes than in ``base`` (1.0: as long)."""
        return self.latency_per_doc / base.latency_per_doc if base.latency_per_doc > 0 else 1.0


class ConcurrencyController:
    """Chooses how many writes may be in flight (``limit``), within ``1..ceiling``, from completed writes.

    Call ``waited()`` each time a write had to wait for a permit and ``completed()`` when a write
    returns; ``limit`` is the level to apply. Writes that started before the level last changed are
    not counted (they ran under the old level). A window closes after ``max(min_batches, 2 x limit)``
    writes spanning at least ``min_window_s`` seconds.
    """

    def __init__(
        self,
        ceiling: int,
        *,
        start: int = 1,
        origin: float = 0.0,
        min_batches: int = 8,
        min_window_s: float = 0.5,
        gain: float = 0.10,
        latency_factor: float = 2.0,
        max_hold: int = 8,
    ) -> None:
        if ceiling < 1:
            raise ValueError(f"ceiling must be at least 1, got {ceiling}")
        self.ceiling = ceiling
        self.min_batches, self.min_window_s = min_batches, min_window_s
        self.gain, self.latency_factor, self.max_hold = gain, latency_factor, max_hold
        self._limit = max(1, min(start, ceiling))
        self._origin = origin
        self._window = _Window(start=origin)
        self._base: _Measure | None = None  # the last window at the level we settled on, where it was the limit
        self._trial: tuple[int, int] | None = None  # (level before, step) while a level is tried
        self._up_next = True  # the direction of the next trial
        self._hold = 0  # windows to wait before the next trial
        self._backoff = 1  # the hold after the next trial that does not pay
        self._batches = 0
        self._changes: list[tuple[float, int]] = []
        self._levels: list[tuple[float, int]] = [(origin, self._limit)]  # every change, for the mean
        self._last = origin

    @property
    def limit(self) -> int:
        """Return how many writes may be in flight now."""
        return self._limit

    def waited(self) -> None:
        """Record that a write had to wait for a permit: the level, not the supply, limits the writes."""
        self._window.waits += 1

    def completed(self, started: float, finished: float, docs: int, nbytes: int) -> int:
        """Record a write of ``docs`` documents (``nbytes``) from ``started`` to ``finished``; return the limit."""
        self._batches += 1
        self._last = max(self._last, finished)
        w = self._window
        if started < w.start:
            return self._limit  # began under the previous level
        w.count += 1
        w.docs += docs
        w.nbytes += nbytes
        w.latency += finished - started
        if w.count == 1:
            w.first = finished
        else:
            w.rate_docs += docs
            w.rate_bytes += nbytes
        w.last = max(w.last, finished)
        if w.count >= max(self.min_batches, 2 * self._limit) and w.last - w.first >= self.min_window_s:
            self._decide(w, finished)
        return self._limit

    def _decide(self, w: _Window, now: float) -> None:
        span = w.last - w.first
        measure = _Measure(w.rate_docs / span, w.rate_bytes / span, w.latency / max(w.docs, 1))
        binding = 2 * w.waits >= w.count  # most writes waited for a permit: the level was the limit
        base, trial, self._trial = self._base, self._trial, None
        if trial is not None:
            self._judge(trial, measure, binding, base, now)
            return
        if base is not None and self._limit > 1 and measure.slower(base) > self.latency_factor:
            # latency grew and throughput did not: the destination got slower, back off
            self._base, self._hold, self._up_next = None, 1, True
            self._next_window(now, max(1, self._limit // 2))
            return
        if binding:
            self._base = measure
        if self._hold > 0:
            self._hold -= 1
            self._next_window(now, self._limit)
        elif self._limit > 1 and (not binding or not self._up_next):
            self._try(now, -1)
        elif binding and self._limit < self.ceiling and self._base is not None:
            self._try(now, +1)
        else:
            self._next_window(now, self._limit)

    def _judge(
        self, trial: tuple[int, int], measure: _Measure, binding: bool, base: _Measure | None, now: float
    ) -> None:
        """End a trial of one level more (``step`` +1) or less (-1) than ``level``: keep it or go back."""
        level, step = trial
        ratio = measure.ratio(base) if base is not None else 1.0
        if step > 0 and binding and ratio >= 1 + self.gain:  # one more paid: keep it, try another
            self._base, self._backoff = measure, 1
            if self._limit < self.ceiling:
                self._try(now, +1)
            else:
                self._up_next = False
                self._next_window(now, self._limit)
            return
        if step < 0 and (not binding or ratio >= 1 - self.gain / 2):  # one less did as well: keep it
            self._base = measure if binding else None
            self._hold, self._up_next = 1, self._limit == 1
            self._next_window(now, self._limit)
            return
        # the trial did not pay: go back, and wait longer before the next one (the other way)
        self._hold = self._backoff
        if binding:
            self._backoff = min(self._backoff * 2, self.max_hold)
        self._up_next = step < 0 or level == 1
        self._next_window(now, level)

    def _try(self, now: float, step: int) -> None:
        self._trial = (self._limit, step)
        self._next_window(now, self._limit + step)

    def _next_window(self, now: float, level: int) -> None:
        start = self._window.start  # writes in flight ran under this level: they count in the next window
        if level != self._limit:
            start = now
            self._limit = level
            self._levels.append((now, level))
            if len(self._changes) < MAX_CHANGES:
                self._changes.append((now - self._origin, level))
        self._window = _Window(start=start)

    def report(self) -> ConcurrencyReport:
        """Return the levels used so far (time-weighted mean up to the last completed write)."""
        end = max(self._last, self._levels[-1][0])
        total = 0.0
        for (t, level), (t_next, _) in zip(self._levels, [*self._levels[1:], (end, 0)], strict=True):
            total += level * max(t_next - t, 0.0)
        duration = end - self._levels[0][0]
        mean = total / duration if duration > 0 else float(self._limit)
        used = [level for _, level in self._levels]
        return ConcurrencyReport(
            ceiling=self.ceiling,
            final=self._limit,
            lowest=min(used),
            highest=max(used),
            mean=mean,
            batches=self._batches,
            changes=tuple(self._changes),
        )


class Gate:
    """A semaphore whose size is read from ``limit()`` each time: FIFO, safe to shrink or grow."""

    def __init__(self, limit: Callable[[], int]) -> None:
        self._limit = limit
        self._in_use = 0
        self._waiting: deque[asyncio.Future[None]] = deque()

    @property
    def in_use(self) -> int:
        """Return how many holders the gate has."""
        return self._in_use

    async def acquire(self) -> bool:
        """Wait for a place; return whether this had to wait."""
        if not self._waiting and self._in_use < self._limit():
            self._in_use += 1
            return False
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append(future)
        try:
            await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():
                self.release()  # the place was handed to us: pass it on
            else:
                self._waiting.remove(future)
            raise
        return True

    def release(self) -> None:
        """Give a place back and hand free places to waiters."""
        self._in_use -= 1
        self.wake()

    def wake(self) -> None:
        """Hand free places to waiters (call after the limit grew)."""
        while self._waiting and self._in_use < self._limit():
            future = self._waiting.popleft()
            if not future.done():
                self._in_use += 1
                future.set_result(None)

    async def __aenter__(self) -> None:
        await self.acquire()

    async def __aexit__(self, *exc: object) -> None:
        self.release()


class WritePacer:
    """Runs writes within the controller's level, timing each one and telling the controller.

    ``follow(gate)`` wakes another gate whose limit depends on this level (e.g. how many readers
    run) when the level changes.
    """

    def __init__(self, controller: ConcurrencyController, clock: Callable[[], float] = time.monotonic) -> None:
        self.controller = controller
        self.clock = clock
        self.permits = Gate(lambda: controller.limit)
        self._followers: list[Gate] = []

    @classmethod
    def starting_now(cls, ceiling: int, clock: Callable[[], float] = time.monotonic) -> WritePacer:
        """Return a pacer for at most ``ceiling`` writes in flight, starting at one, timed by ``clock``."""
        return cls(ConcurrencyController(ceiling, origin=clock()), clock)

    @property
    def limit(self) -> int:
        """Return how many writes may be in flight now."""
        return self.controller.limit

    def follow(self, gate: Gate) -> None:
        """Wake ``gate`` whenever the level changes."""
        self._followers.append(gate)

    async def run(self, write: Callable[[], Awaitable[T]], docs: int, nbytes: int) -> T:
        """Run ``write`` (of ``docs`` documents, ``nbytes``) holding a permit; a failed write is not measured."""
        if await self.permits.acquire():
            self.controller.waited()
        started = self.clock()
        try:
            result = await write()
        except BaseException:
            self.permits.release()
            raise
        before = self.controller.limit
        after = self.controller.completed(started, self.clock(), docs, nbytes)
        self.permits.release()
        if after != before:
            for gate in self._followers:
                gate.wake()
        return result

    def report(self) -> ConcurrencyReport:
        """Return the levels used so far."""
        return self.controller.report()
