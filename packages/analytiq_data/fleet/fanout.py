"""Running one piece of work per database, ``jobs`` at once, with a failure policy and a stop.

The work for one database is a verb run exactly as for one ``--db`` (its own lock, state and
history: nothing here touches them). This module only decides which database starts when:

- ``jobs`` workers take the databases in order; each database runs once; a database whose
  migration lock another runner holds on its first turn (the work raises ``Deferred``) goes to the
  end of the queue, once, so two fan-outs started together share the databases instead of queueing
  behind each other's locks; on its next turn (or when nothing else is left) its run waits for the
  lock as one run does;
- after the first failure no new database starts (``keep_going``: all are tried); those running
  end on their own, and the rest are reported ``skipped``;
- a stop request (Ctrl-C) starts no new database and is passed to every running one, as one run
  receives it: the first stops each at its next safe point, the second aborts the running step
  (work that has no steps, such as a dump, is cancelled by the second).

Every database gets a record, in the order given.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol, TypeVar

from analytiq_data.errors import AnalytiqError, ExitCode, Interrupted
from analytiq_data.fleet.progress import DatabaseProgress, FleetProgress, HeldBack
from analytiq_data.fleet.results import DatabaseResult, Outcome, failure
from analytiq_data.migrations.engine.lockinfo import LockHeld
from analytiq_data.migrations.engine.options import StopRequest
from analytiq_data.progress import Progress

log = logging.getLogger(__name__)



@dataclass(frozen=True)
class Turn:
    """A database's turn: its own stop request, and whether its run waits for a lock another runner
    holds (``patient``) or raises ``Deferred`` at once (its first turn, while other databases wait)."""

    stop: StopRequest
    patient: bool = True


class Deferred(Exception):
    """Raised by the work of an impatient turn whose database's lock is held: ``holder`` says by whom."""

    def __init__(self, holder: str) -> None:
        super().__init__(holder)
        self.holder = holder


#: The work for one database: given its name, the Progress to report through and its turn.
Work = Callable[[str, Progress, Turn], Coroutine[Any, Any, DatabaseResult]]
#: Reads a failed database's version afterwards (None if it cannot), for "failed at version V".
VersionReader = Callable[[str], Awaitable[int | None]]



@dataclass
class Policy:
    """How the databases are run: ``jobs`` at once; ``keep_going`` past failures; ``steps``: the
    work stops between steps on a stop request (migration verbs), else the second request cancels it."""

    jobs: int
    keep_going: bool = False
    steps: bool = True


@dataclass
class _State:
    queue: deque[str]
    stop: StopRequest
    results: dict[str, DatabaseResult] = field(default_factory=dict)
    running: dict[str, StopRequest] = field(default_factory=dict)
    halted_by: str | None = None  # the database whose failure stopped new starts
    deferred: set[str] = field(default_factory=set)  # put back once: their lock was held on the first turn


async def fan_out(
    names: Sequence[str],
    work: Work,
    policy: Policy,
    progress: FleetProgress,
    *,
    stop: StopRequest | None = None,
    version_of: VersionReader | None = None,
) -> list[DatabaseResult]:
    """Run ``work`` on each of ``names`` (``policy.jobs`` at once); return one record per name, in order."""
    stop = stop or StopRequest()
    state = _State(deque(names), stop)

    def pass_on(count: int) -> None:
        for request in list(state.running.values()):
            while request.count < count:
                request.request()

    stop.listen(pass_on)

    async def worker() -> None:
        while state.queue and state.halted_by is None and not stop.requested:
            name = state.queue.popleft()
            result = await _one(name, work, policy, progress, state, version_of)
            if result is None:  # its lock was held: back at the end of the queue, once
                state.deferred.add(name)
                state.queue.append(name)
                continue
            state.results[name] = result
            progress.finished(result)
            if result.outcome is Outcome.FAILED and not policy.keep_going and state.halted_by is None:
                state.halted_by = name

    await asyncio.gather(*(worker() for _ in range(max(1, min(policy.jobs, len(names))))))
    why = (
        "not started: a stop was asked for"
        if stop.requested
        else f"not started: {state.halted_by} failed (run again to continue; --keep-going tries them all)"
    )
    code = int(ExitCode.INTERRUPTED) if stop.requested else 0  # a failure's own code says why it stopped
    for name in state.queue:
        skipped = DatabaseResult(name, Outcome.SKIPPED, error=why, exit_code=code)
        state.results[name] = skipped
        progress.finished(skipped)
    return [state.results[n] for n in names]


async def _one(
    name: str,
    work: Work,
    policy: Policy,
    progress: FleetProgress,
    state: _State,
    version_of: VersionReader | None,
) -> DatabaseResult | None:
    """Run the work of one database in a task of its own; turn what it raises into its record (None:
    deferred, its lock held by another runner)."""
    request = StopRequest(handles_signals=state.stop.handles_signals)  # who turns Ctrl-C into requests
    state.running[name] = request
    progress.started(name)
    started = time.monotonic()
    turn = Turn(request, patient=name in state.deferred or not state.queue)
    task = asyncio.create_task(work(name, DatabaseProgress(progress, name), turn))
    if not policy.steps:
        request.attach(task)  # no steps to stop between: the second request cancels the work
    try:
        return await task
    except Deferred as held:
        progress.deferred(name, held.holder)
        return None
    except asyncio.CancelledError:
        if not task.cancelled() or _cancelling():
            raise  # the fan-out itself is being cancelled
        return failure(name, Interrupted("interrupted: aborted by a second stop request"), time.monotonic() - started)
    except AnalytiqError as exc:
        version = await version_of(name) if version_of is not None and not isinstance(exc, Interrupted) else None
        interrupted_at = getattr(exc, "version", None) if isinstance(exc, Interrupted) else None
        return failure(name, exc, time.monotonic() - started, version if version is not None else interrupted_at)
    except Exception as exc:
        log.error("%s on database %s: internal error", type(exc).__name__, name, exc_info=True)
        return failure(name, exc, time.monotonic() - started)
    finally:
        state.running.pop(name, None)


def _cancelling() -> bool:
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


T = TypeVar("T")


class WaitsForLock(Protocol):
    """Options of a work that takes a database's lock: a dataclass with the seconds it waits for it."""

    __dataclass_fields__: ClassVar[dict[str, dataclasses.Field[Any]]]

    @property
    def lock_wait_s(self) -> float: ...


Opts = TypeVar("Opts", bound=WaitsForLock)


async def give_way(turn: Turn, progress: Progress, options: Opts, run: Callable[[Opts, Progress], Awaitable[T]]) -> T:
    """Call ``run(options, progress)`` for a work that takes the database's migration lock.

    A patient turn runs as one run does (``options`` as they are). An impatient one asks for no wait
    (``options`` with ``lock_wait_s=0``) and keeps its notes back until a step starts: if another
    runner holds the migration lock (``LockHeld``), it raises ``Deferred`` and nothing was said or
    done. Any other LockError (a lost lease, a restore's own lock held by another restore) is the
    work's failure.
    """
    if turn.patient:
        return await run(options, progress)
    quiet = HeldBack(progress)
    try:
        done = await run(dataclasses.replace(options, lock_wait_s=0.0), quiet)
    except LockHeld as exc:
        raise Deferred(exc.holder.describe() if exc.holder else "another runner") from exc
    quiet.release()
    return done
