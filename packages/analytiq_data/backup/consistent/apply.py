"""Replaying interpreted change events on the destination, in order, idempotently by ``_id``."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from pymongo import errors as pm_errors
from pymongo.asynchronous.database import AsyncDatabase

from analytiq_data.backup.consistent.events import Change, Definition, WriteOp

log = logging.getLogger(__name__)

DUPLICATE_KEY = 11000


async def apply_all(db: AsyncDatabase[Any], items: Sequence[Change | Definition]) -> None:
    """Apply ``items`` (in event order) to ``db``: changes batched per collection, DDL between them in place.

    Changes of different collections commute; those of one collection keep their order (one
    ordered bulk write). A DDL event first flushes what came before it.
    """
    pending: dict[str, list[Change]] = {}
    for item in items:
        if isinstance(item, Definition):
            await _flush(db, pending)
            await _define(db, item)
        else:
            pending.setdefault(item.collection, []).append(item)
    await _flush(db, pending)


async def _flush(db: AsyncDatabase[Any], pending: dict[str, list[Change]]) -> None:
    for name, changes in pending.items():
        await apply_changes(db, name, changes)
    pending.clear()


async def apply_changes(db: AsyncDatabase[Any], name: str, changes: Sequence[Change], *, fresh: bool = False) -> None:
    """Apply one collection's changes in order; an update the server refuses whole is applied path by path.

    ``fresh`` (``Change.requests``): inserts go as plain inserts; one that meets its ``_id`` is replayed
    as the idempotent replacement instead.
    """
    requests: list[WriteOp] = []
    owner: list[int] = []
    for i, change in enumerate(changes):
        for request in change.requests(fresh=fresh):
            requests.append(request)
            owner.append(i)
    coll = db[name]
    start = 0
    while start < len(requests):
        try:
            await coll.bulk_write(requests[start:], ordered=True)
            return
        except pm_errors.BulkWriteError as exc:
            errors = exc.details.get("writeErrors") or []
            if not errors:
                raise
            failed = start + int(errors[0]["index"])
            change = changes[owner[failed]]
            if fresh and change.inserted and errors[0].get("code") == DUPLICATE_KEY:
                await coll.bulk_write(change.requests(), ordered=True)  # it was there after all
            elif change.op == "update":
                await _piecewise(db, name, change)
            else:
                raise
            start = failed + 1
            while start < len(requests) and owner[start] == owner[failed]:
                start += 1


async def _piecewise(db: AsyncDatabase[Any], name: str, change: Change) -> None:
    """Apply each path of an update on its own; skip those the server refuses (a later write rewrites them)."""
    for request in change.piecewise():
        try:
            await db[name].bulk_write([request])
        except pm_errors.BulkWriteError as exc:
            log.info("replaying an update of %r in %s: path skipped (%s)", change.key, name, exc.details)


async def _define(db: AsyncDatabase[Any], item: Definition) -> None:
    try:
        await db.command(item.command)
    except pm_errors.OperationFailure as exc:
        if exc.code not in item.tolerated:
            raise
