"""Run hooks for the CLI's ``--hooks``: each call is counted in ``housekeeping`` (``_id`` = before/after)."""

from __future__ import annotations

from analytiq_data.migrations import RunHooks, RunInfo


async def count_before(run: RunInfo) -> None:
    await run.db.housekeeping.update_one({"_id": "before"}, {"$inc": {"n": 1}}, upsert=True)


async def count_after(run: RunInfo) -> None:
    await run.db.housekeeping.update_one({"_id": "after"}, {"$inc": {"n": 1}}, upsert=True)


async def refuse(run: RunInfo) -> None:
    raise RuntimeError("the work queue is unreachable")


HOOKS = RunHooks(before=count_before, after=count_after)
FAILING = RunHooks(before=refuse)
NOT_HOOKS = [count_before]
