"""The history survives a restore: records written after the backup stay, and the restore is recorded.

``migration_history`` is an audit log. A backup holds the history up to the moment it was made;
the target's history may hold more: the backup's own record, steps that ran afterwards, the step
that failed (its error and traceback). Restoring the backup's copy alone would lose them. So the
history the swap puts in place is the backup's, plus every record of the target's history the
backup does not have (by ``_id``, byte for byte), plus one record of the restore itself
(``direction: "restore"``, ``outcome: "restored"``, the version restored and the one replaced).

A kept record marked ``dirty`` (a step declared not idempotent that failed outside a transaction)
no longer describes the data (the restore replaced it): its mark is cleared and the record says
so (``dirty_cleared_by``). A database whose history neither the target nor the backup has gets
none: a restore never adds the tool's collections to a database that does not use them.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import bson
from bson import CodecOptions, ObjectId
from bson.raw_bson import RawBSONDocument
from pymongo import WriteConcern
from pymongo.asynchronous.database import AsyncDatabase

from analytiq_data.backup import ddl
from analytiq_data.backup.catalog import indexes, namespace
from analytiq_data.migrations.engine.state import HISTORY_COLLECTION, utcnow
from analytiq_data.restore_mark import staged_name

RAW: CodecOptions[RawBSONDocument] = CodecOptions(document_class=RawBSONDocument)
BATCH = 1000


@dataclass(frozen=True)
class RestoreRecord:
    """What the restore's own history record says."""

    source: str  # e.g. "backup prod_bk on db1:27017"
    name: str  # the backup's name (or the dump's path)
    version: int | None  # restored
    from_version: int  # the target's before
    started_at: datetime


async def carry_history(
    db: AsyncDatabase[Any], loaded_as: str | None, existed: bool, record: RestoreRecord
) -> str | None:
    """Add to the loaded history the target's records the backup lacks, and the restore's record.

    ``loaded_as`` is where the backup's history was loaded (None: the backup has none); ``existed``
    says whether the target has one. Return the name of the history to swap in (None: none at all).
    """
    if loaded_as is None and not existed:
        return None
    if loaded_as is None:  # the backup has no history, the target has: keep the target's, beside
        loaded_as = staged_name(HISTORY_COLLECTION)
        await _create_like(db, HISTORY_COLLECTION, loaded_as)
    target = db.get_collection(loaded_as, codec_options=RAW, write_concern=WriteConcern("majority"))
    carried = 0
    if existed:
        have = set(await target.distinct("_id"))
        batch: list[RawBSONDocument] = []
        dirty: list[Any] = []
        async for doc in db.get_collection(HISTORY_COLLECTION, codec_options=RAW).find({}):
            if doc["_id"] in have:
                continue
            batch.append(doc)
            if doc.get("dirty") is True:
                dirty.append(doc["_id"])
            if len(batch) >= BATCH:
                carried += await _insert(target, batch)
        carried += await _insert(target, batch)
        if dirty:
            note = f"restore from {record.source}"
            await target.update_many({"_id": {"$in": dirty}}, {"$set": {"dirty": False, "dirty_cleared_by": note}})
    await target.insert_one(RawBSONDocument(_restore_doc(record, carried)))
    return loaded_as


async def _insert(target: Any, batch: list[RawBSONDocument]) -> int:
    if not batch:
        return 0
    await target.insert_many(batch, ordered=False)
    count = len(batch)
    batch.clear()
    return count


def _restore_doc(record: RestoreRecord, carried: int) -> bytes:
    ended = utcnow()
    kept = f"; {carried} later record(s) of the history kept" if carried else ""
    return bson.encode(
        {
            "_id": ObjectId(),
            "version": record.version if record.version is not None else 0,
            "name": record.name,
            "description": f"restored from {record.source} (the database was at version {record.from_version}){kept}",
            "direction": "restore",
            "outcome": "restored",
            "from_version": record.from_version,
            "source": record.source,
            "carried": carried,
            "started_at": record.started_at,
            "ended_at": ended,
            "duration_s": (ended - record.started_at).total_seconds(),
            "host": socket.gethostname(),
            "pid": os.getpid(),
        }
    )


async def _create_like(db: AsyncDatabase[Any], name: str, as_name: str) -> None:
    """Create ``as_name`` with the options and indexes of collection ``name``."""
    info = await namespace(db, name) or {}
    await db.drop_collection(as_name)
    await ddl.create(db, as_name, dict(info.get("options") or {}))
    await ddl.create_indexes(db, as_name, await indexes(db, name))
    await ddl.apply_deferred(db, as_name, dict(info.get("options") or {}))
