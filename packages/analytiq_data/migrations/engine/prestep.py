"""Work a run does under the lock before its first step (such as a backup), and its phase.

A run may be given a *pre-step hook* (``RunOptions.before_steps``): an async callable the runner
awaits under the migration lock, only when steps are pending, before the first step. The engine
knows nothing of what the hook does (``analytiq_data.safety`` builds one that makes a verified
backup). While the hook works, the lease keeps being renewed in the background, and the hook may
report a *phase* (``"backup"``) in the lock document: ``{phase, phase_token, phase_since}``.

Waiting runners (``MigrationLock.acquire``) do not count time during which the holder reports a phase against their
``lock_wait_s``: a backup can take far longer than a sensible wait for the lock, and the runner
making it is alive (its lease is renewed). The phase counts only while it carries the token of
the live lease, so a holder that died mid-backup stops counting once its lease expires, and a
runner that takes over its expired lease does not inherit its phase.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pymongo import AsyncMongoClient

from analytiq_data.migrations.engine.lock import MigrationLock
from analytiq_data.migrations.engine.state import StateStore, utcnow
from analytiq_data.progress import Progress


@dataclass(frozen=True)
class HookRecord:
    """What a pre-step hook did, for the history: one record of its own (``direction`` such as
    ``"backup"``, ``name``, ``description``, ``outcome``), and ``fields`` stored on that record and
    on every step record of the run (e.g. ``{"backup": "<database>"}``)."""

    direction: str
    name: str
    description: str
    outcome: str
    fields: Mapping[str, Any] = field(default_factory=dict)
    duration_s: float | None = None


@dataclass(frozen=True)
class BeforeSteps:
    """What the runner tells a pre-step hook: where, from which version, where to, and how to report."""

    client: AsyncMongoClient[Any]
    db_name: str
    from_version: int
    target: int
    direction: str
    progress: Progress
    set_phase: Callable[[str | None], Awaitable[None]]


PreStepHook = Callable[[BeforeSteps], Awaitable[HookRecord | None]]


async def set_phase(lock: MigrationLock, phase: str | None) -> None:
    """Record (or clear, with None) the phase the lock's holder is in; only while the lease is ours."""
    await lock.set_phase(phase)


async def run_hook(
    hook: PreStepHook,
    current: int,
    target: int,
    direction: str,
    lock: MigrationLock,
    where: tuple[AsyncMongoClient[Any], str, StateStore, str],
    progress: Progress,
) -> dict[str, Any]:
    """Await ``hook`` under the held ``lock`` (its phase shown in the lock document, cleared after);
    write its history record; return the fields to store on the run's step records.

    ``where`` is (client, database name, state store, run id). An error from the hook propagates:
    no step runs. Raises LockError if the lease was lost meanwhile.
    """
    client, db_name, state, run_id = where

    async def phase(name: str | None) -> None:
        await set_phase(lock, name)

    started, t0 = utcnow(), time.monotonic()
    try:
        record = await hook(BeforeSteps(client, db_name, current, target, direction, progress, phase))
    finally:
        if lock.held and not lock.lost:
            await set_phase(lock, None)
    lock.check()
    if record is None:
        return {}
    duration = record.duration_s if record.duration_s is not None else round(time.monotonic() - t0, 3)
    doc: dict[str, Any] = {"version": current, "name": record.name, "description": record.description}
    doc.update(direction=record.direction, outcome=record.outcome, checksum=None, transactional=False, dirty=False)
    doc.update(run_id=run_id, started_at=started, ended_at=utcnow(), duration_s=duration)
    await state.add_records([{**doc, **record.fields}])
    return dict(record.fields)
