"""Rehearsing pending migrations on many databases, or on the few whose data shapes differ most.

Each chosen database is rehearsed by ``safety.rehearse`` exactly as alone (a scratch copy beside
it; up, up again, down, up; the real database only read). With ``sample_dbs`` K, only K are: among
the selected databases with steps pending, those covering the most different data shapes
(``shapes.choose``); why each was chosen is in the result's notes.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from typing import Any

from pymongo import AsyncMongoClient

from analytiq_data.fleet.fanout import Turn, Work
from analytiq_data.fleet.progress import FleetProgress
from analytiq_data.fleet.results import DatabaseResult, FleetResult, Outcome
from analytiq_data.fleet.run import Fleet, Plan, over_many
from analytiq_data.fleet.select import PROBE_CONCURRENCY, Resolved, Selection, resolve
from analytiq_data.fleet.shapes import choose, shapes
from analytiq_data.migrations.base import Migration
from analytiq_data.migrations.engine.options import StopRequest
from analytiq_data.migrations.engine.plan import validate_migrations
from analytiq_data.migrations.engine.state import StateStore
from analytiq_data.migrations.engine.target import Connection
from analytiq_data.progress import Progress


async def versions(client: AsyncMongoClient[Any], names: Sequence[str]) -> dict[str, int]:
    """Return each database's recorded version (one read each, ``PROBE_CONCURRENCY`` at once)."""
    gate = asyncio.Semaphore(PROBE_CONCURRENCY)

    async def one(name: str) -> int:
        async with gate:
            return (await StateStore(client[name]).read_version()).version

    found = await asyncio.gather(*(one(n) for n in names))
    return dict(zip(names, found, strict=True))


async def sample_by_shape(
    resolved: Resolved, client: AsyncMongoClient[Any], head: int, to: int | None, k: int, jobs: int
) -> Resolved:
    """Return ``resolved`` narrowed to the ``k`` databases with steps pending whose shapes differ most."""
    found = await versions(client, resolved.names)
    goal = head if to is None else to
    pending = [n for n in resolved.names if found[n] < goal]
    picked = choose(await shapes(client, pending, jobs), k)
    notes = tuple(f"{c.database}: chosen for {c.why()}" for c in picked)
    if len(pending) < len(resolved.names):
        notes += (f"{len(resolved.names) - len(pending)} selected databases have no step pending: not rehearsed",)
    names = tuple(sorted(c.database for c in picked))
    return Resolved(names, resolved.selection, resolved.excluded, resolved.tool_databases, notes, len(resolved.names))


async def rehearse_many(
    fleet: Fleet,
    selection: Selection,
    migrations: Sequence[Migration],
    *,
    to: int | None = None,
    sample: int | None = None,
    keep: bool = False,
    sample_dbs: int | None = None,
    jobs: int | None = None,
    keep_going: bool = False,
    stop: StopRequest | None = None,
    progress: FleetProgress | None = None,
    announce: Callable[[Plan], None] | None = None,
) -> FleetResult:
    """Rehearse the pending migrations of every selected database (or of ``sample_dbs`` of them, chosen
    by data shape) on scratch copies; a database whose rehearsal finds a problem is ``failed`` (exit 1)."""
    from analytiq_data.safety.rehearse import rehearse  # the backup engine only when rehearsing

    checked = validate_migrations(migrations)

    async def chosen(conn: Connection) -> Resolved:
        resolved = await resolve(selection, fleet.client, conn.clients.bookkeeping, where=fleet.where)
        if sample_dbs is None:
            return resolved
        return await sample_by_shape(resolved, conn.clients.bookkeeping, len(checked), to, sample_dbs, jobs or 4)

    async def one(name: str, progress: Progress, turn: Turn) -> DatabaseResult:
        t0 = time.monotonic()
        found = await rehearse(fleet.target(name), checked, to=to, sample=sample, keep=keep, progress=progress)
        seconds = time.monotonic() - t0
        if found.passed:
            return DatabaseResult(name, Outcome.OK, found.to_version, found.from_version, seconds=seconds, detail=found)
        first = found.failures[0]
        check = first.failed
        cause = f"{first.label()}: {check.name} failed: {check.reason}" if check else f"{first.label()} failed"
        return DatabaseResult(
            name, Outcome.FAILED, found.from_version, found.from_version,
            error=cause, exit_code=1, seconds=seconds, detail=found,
        )  # fmt: skip

    work: Work = one
    return await over_many(
        "rehearse", fleet, selection, work, jobs=jobs, keep_going=keep_going, steps=False, stop=stop,
        progress=progress, read_versions=False, announce=announce, resolver=chosen,
    )  # fmt: skip
