"""Where a restore loads the backup: inside the target database, beside what it will replace.

A rename inside one database is a change of the catalog on mongod (no document is copied, the
collection keeps its UUID, indexes and options) and mongos runs it for unsharded collections; a
rename across databases copies every document again on mongod and is refused by mongos. So:

- a collection the target already holds (its data must stay untouched until the backup is loaded
  and checked) is loaded as ``__restore.<name>`` (*staged*) and renamed over it at the swap;
- a collection the target does not hold is loaded under its own name (*created*): there is
  nothing of the target's to protect, and no rename is needed at all (a restore into a new
  database is then exactly mongorestore's work).

Before anything is created, the mark (``restore_mark``) records which names are staged and which
created, so a failure, Ctrl-C or kill -9 before the swap is cleaned up to the last collection:
the target ends as it was. The mark is a plain document, written at a few points (begin, commit,
probes), never a lease: the restore's lease lives in a database of its own (``restore_lock``).
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from pymongo import WriteConcern
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from analytiq_data.backup.catalog import namespaces
from analytiq_data.migrations.engine.state import utcnow
from analytiq_data.restore_mark import (
    LOADING,
    MARK_COLLECTION,
    MARK_ID,
    STAGE_PREFIX,
    SWAP,
    RestoreMark,
    staged_name,
)

log = logging.getLogger(__name__)

MAJORITY = WriteConcern("majority")
#: Collections of the target a restore never replaces nor drops (the migration engine's lease).
KEPT = frozenset({"migration_lock"})


@dataclass(frozen=True)
class Staging:
    """The load area of one restore in database ``db``: ``existing`` are the target's namespaces at the start."""

    db: AsyncDatabase[Any]
    existing: frozenset[str]

    @classmethod
    async def of(cls, db: AsyncDatabase[Any]) -> Staging:
        """Return the load area of ``db`` as the database is now (its user namespaces, views included)."""
        return cls(db, frozenset(await namespaces(db)))

    def where(self, name: str) -> str:
        """Return the name collection ``name`` of the backup is loaded under."""
        return staged_name(name) if name in self.existing else name

    def split(self, names: Iterable[str]) -> tuple[list[str], list[str]]:
        """Return (staged, created): the backup's collections loaded beside the target's, and under their own names."""
        names = sorted(set(names))
        return [n for n in names if n in self.existing], [n for n in names if n not in self.existing]

    @property
    def marks(self) -> AsyncCollection[Any]:
        """Return the mark's collection (majority writes)."""
        return self.db.get_collection(MARK_COLLECTION, write_concern=MAJORITY)

    async def begin(self, *, source: str, lock_db: str, staged: list[str], created: list[str]) -> None:
        """Write the mark (phase ``loading``): from now on every name the restore may create is recorded."""
        await self.marks.replace_one(
            {"_id": MARK_ID},
            {
                "phase": LOADING,
                "source": source,
                "started_at": utcnow(),
                "host": socket.gethostname(),
                "pid": os.getpid(),
                "lock_db": lock_db,
                "staged": staged,
                "created": created,
            },
            upsert=True,
        )

    async def note_created(self, names: Iterable[str]) -> None:
        """Add names the load creates on the way (a collection a dump's change events create)."""
        await self.marks.update_one({"_id": MARK_ID}, {"$addToSet": {"created": {"$each": sorted(names)}}})

    async def commit(self, plan: dict[str, Any]) -> None:
        """Record the swap's plan (phase ``swap``): from now on a stopped restore is finished, never undone."""
        await self.marks.update_one({"_id": MARK_ID}, {"$set": {"phase": SWAP, "swap": plan, "committed_at": utcnow()}})

    async def probe(self) -> str:
        """Write a fresh value into the mark and return it (a change stream is read up to it)."""
        token = uuid.uuid4().hex
        await self.marks.update_one({"_id": MARK_ID}, {"$set": {"probe": token}})
        return token

    async def finish(self) -> None:
        """Remove the mark: the restore is over (nothing of it stays in the target)."""
        await self.db.drop_collection(MARK_COLLECTION)


async def staged_now(db: AsyncDatabase[Any]) -> list[str]:
    """Return the collections of ``db`` that are staged copies (``__restore.<name>``), by their final name."""
    names = await db.list_collection_names(filter={"name": {"$regex": "^" + STAGE_PREFIX.replace(".", r"\.")}})
    return sorted(n[len(STAGE_PREFIX) :] for n in names)


async def remove_partial_load(db: AsyncDatabase[Any], mark: RestoreMark | None) -> list[str]:
    """Drop what a restore stopped before its swap loaded (staged copies, created collections) and its mark.

    Return the names removed. The target's own collections are not touched.
    """
    removed: list[str] = []
    for name in await staged_now(db):
        await db.drop_collection(staged_name(name))
        removed.append(staged_name(name))
    for name in mark.created if mark is not None else ():
        if name not in KEPT:
            await db.drop_collection(name)
            removed.append(name)
    await db.drop_collection(MARK_COLLECTION)
    log.info("removed the partial load of an unfinished restore of %s: %s", db.name, removed)
    return removed
