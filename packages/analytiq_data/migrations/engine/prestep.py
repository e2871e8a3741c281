"""Work a run does under the lock before its first step (such as a backup), and waiting for it patiently.

A run may be given a *pre-step hook* (``RunOptions.before_steps``): an async callable the runner
awaits under the migration lock, only when steps are pending, before the first step. The engine
knows nothing of what the hook does (``analytiq_data.safety`` builds one that makes a verified
backup). While the hook works, the lease keeps being renewed in the background, and the hook may
report a *phase* (``"backup"``) in the lock document: ``{phase, phase_token, phase_since}``.

Waiting runners do not count time during which the holder reports a phase against their
``lock_wait_s``: a backup can take far longer than a sensible wait for the lock, and the runner
making it is alive (its lease is renewed). The phase counts only while it carries the token of
the live lease, so a holder that died mid-backup stops counting once its lease expires, and a
runner that takes over its expired lease does not inherit its phase.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pymongo import AsyncMongoClient

from analytiq_data.migrations.engine.lock import LOCK_COLLECTION, LOCK_ID, LockInfo, MigrationLock, read_lock
from analytiq_data.migrations.engine.state import StateStore, utcnow
from analytiq_data.progress import Progress

GiveUp = Callable[[], Awaitable[bool]]
OnWait = Callable[[LockInfo | None], None]


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
    if phase is None:
        update: list[dict[str, Any]] = [{"$unset": ["phase", "phase_token", "phase_since"]}]
    else:
        update = [{"$set": {"phase": phase, "phase_token": lock.token, "phase_since": "$$NOW"}}]
    await lock.coll.update_one({"_id": LOCK_ID, "token": lock.token}, update)


async def holder_phase(lock: MigrationLock) -> str | None:
    """Return the phase the live holder of the lock reports, or None (no holder, expired, no phase)."""
    info = await read_lock(lock.db)
    if info is None or not info.live or info.token is None:
        return None
    doc = await lock.db[LOCK_COLLECTION].find_one({"_id": LOCK_ID, "token": info.token}, {"phase": 1, "phase_token": 1})
    if doc is None or not doc.get("phase") or doc.get("phase_token") != info.token:
        return None
    return str(doc["phase"])


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


async def acquire_patiently(
    lock: MigrationLock,
    wait_s: float,
    *,
    give_up: GiveUp | None = None,
    on_wait: OnWait | None = None,
    on_phase: Callable[[str], None] | None = None,
) -> LockInfo | None:
    """Take the lock as ``MigrationLock.acquire`` does, not counting time the holder reports a phase.

    Returns None once held, or the holder's LockInfo when ``give_up()`` says waiting is no longer
    needed. ``on_phase(phase)`` is called once when the holder is first seen in a phase. Raises
    LockError after ``wait_s`` seconds of waiting outside the holder's phases.
    """
    budget = max(wait_s, 0.0)
    seen_phase = False
    while True:
        phase: str | None = None

        async def stop_waiting() -> bool:
            nonlocal phase
            if give_up is not None and await give_up():
                return True
            phase = await holder_phase(lock)
            return phase is not None

        started = time.monotonic()
        holder = await lock.acquire(budget, give_up=stop_waiting, on_wait=on_wait)
        if holder is None or phase is None:
            return holder
        budget = max(budget - (time.monotonic() - started), 0.0)
        on_wait = None
        if on_phase is not None and not seen_phase:
            on_phase(phase)
        seen_phase = True
        if await _wait_out_phase(lock, give_up):
            return await read_lock(lock.db)


async def _wait_out_phase(lock: MigrationLock, give_up: GiveUp | None) -> bool:
    """Poll (backing off to 1 s) until the holder leaves its phase; return True if ``give_up()`` said stop."""
    delay = 0.05
    while await holder_phase(lock) is not None:
        if give_up is not None and await give_up():
            return True
        await asyncio.sleep(delay)
        delay = min(delay * 2, 1.0)
    return False
