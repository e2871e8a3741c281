"""Running one piece of work per database, ``jobs`` at once, with a failure policy and a stop.

The work for one database is a verb run exactly as for one ``--db`` (its own lock, state and
history: nothing here touches them). This module only decides which database starts when:

- ``jobs`` workers take the databases in order; each database runs once;
- after the first failure no new database starts (``keep_going``: all are tried); those running
  end on their own, and the rest are reported ``skipped``;
- a stop request (Ctrl-C) starts no new database and is passed to every running one, as one run
  receives it: the first stops each at its next safe point, the second aborts the running step
  (work that has no steps, such as a dump, is cancelled by the second).

Every database gets a record, in the order given.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any

from analytiq_data.errors import AnalytiqError, Interrupted
from analytiq_data.fleet.progress import DatabaseProgress, FleetProgress
from analytiq_data.fleet.results import DatabaseResult, Outcome, failure
from analytiq_data.migrations.engine.options import StopRequest
from analytiq_data.progress import Progress

log = logging.getLogger(__name__)

#: The work for one database: given its name, the Progress to report through and its own stop request.
Work = Callable[[str, Progress, StopRequest], Coroutine[Any, Any, DatabaseResult]]
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
    results: dict[str, DatabaseResult] = field(default_factory=dict)
    running: dict[str, StopRequest] = field(default_factory=dict)
    halted_by: str | None = None  # the database whose failure stopped new starts


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
    state = _State(deque(names))

    def pass_on(count: int) -> None:
        for request in list(state.running.values()):
            while request.count < count:
                request.request()

    stop.listen(pass_on)

    async def worker() -> None:
        while state.queue and state.halted_by is None and not stop.requested:
            name = state.queue.popleft()
            result = await _one(name, work, policy, progress, state, version_of)
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
    for name in state.queue:
        skipped = DatabaseResult(name, Outcome.SKIPPED, error=why)
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
) -> DatabaseResult:
    """Run the work of one database in a task of its own; turn what it raises into its record."""
    request = StopRequest()
    state.running[name] = request
    progress.started(name)
    started = time.monotonic()
    task = asyncio.create_task(work(name, DatabaseProgress(progress, name), request))
    if not policy.steps:
        request.attach(task)  # no steps to stop between: the second request cancels the work
    try:
        return await task
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
