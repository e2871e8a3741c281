"""Resume state: what an interrupted backup had finished, kept in the destination database.

The state lives in the ``__backup_state`` collection of the destination (the source is never
written). It holds the plan (so a resumed run copies exactly the same ``_id`` ranges), one
document per finished range with the digest of what was read from the source, and one per
finished collection with its verification outcome. It is removed when the copy completes, right
after the manifest (``manifest.py``) records the backup as complete: a database that still holds
this state is an interrupted backup, never a complete one. A copy that saw its source start being
changed is marked ``unusable`` in the header: resuming it would mix two states of the source.

Order makes it safe: a range is recorded only after every batch of it was acknowledged, and a
server keeps writes in order, so after a crash of either side the state never claims more than
the destination holds. A range not recorded is copied again over what the destination holds of it
(``reconcile``: nothing dropped, late writes of the stopped run harmless). A collection that failed
verification is forgotten (``redo``), so the next resume copies it again; the state itself is kept.

Each run stamps its records with its own token (``run``); a resumed run takes over the records of
the run it resumes (``adopt``) and from then on counts only records carrying its token. So a record
the stopped run still had on its way, landing after the resume began (as its batches may, see
``copy.insert_batch``), never marks a range done that the resume restarted and is copying again.
"""

from __future__ import annotations

import datetime
import uuid
from typing import Any

import bson
from pymongo import WriteConcern
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import OperationFailure

from analytiq_data.backup.claim import HOLDER_ID
from analytiq_data.backup.digest import Digest
from analytiq_data.backup.plan import STATE_COLLECTION, IdRange, Intent, Kind, Plan, ranges_from
from analytiq_data.backup.results import CollectionReport

STATE_VERSION = 1
JOURNALED = WriteConcern(w="majority", j=True)
_HEADER = "header"


def _encode(value: Any) -> bytes:
    # Options, validators and pipelines hold $-prefixed keys: stored as BSON bytes, returned exactly.
    return bson.encode({"v": value})


def _decode(data: bytes) -> Any:
    return bson.decode(bytes(data))["v"]


def _digest_doc(digest: Digest | None) -> dict[str, Any] | None:
    return None if digest is None else {"count": digest.count, "bytes": digest.nbytes, "hash": digest.hex}


def _digest_from(doc: dict[str, Any] | None) -> Digest | None:
    return Digest(int(doc["count"]), int(doc["bytes"]), int(doc["hash"], 16)) if doc else None


def report_to_doc(report: CollectionReport) -> dict[str, Any]:
    """Return the state document recording a finished collection's outcome (this module's format).

    The fields are those a resumed run needs to report the collection again without copying it:
    counts, digests (hash as hex), verification outcome and differences. Kept readable by every
    version that can resume (the same fields since ``STATE_VERSION`` 1); not the ``--json`` report.
    """
    doc: dict[str, Any] = {
        "name": report.name,
        "kind": report.kind,
        "documents": report.documents,
        "bytes": report.nbytes,
        "seconds": report.seconds,
        "ranges": report.ranges,
        "resumed_ranges": report.resumed_ranges,
        "indexes": report.indexes,
        "verified": report.verified,
        "differences": list(report.differences),
    }
    for side, digest in (("source", report.source), ("destination", report.destination)):
        if digest is not None:
            doc[side] = _digest_doc(digest)
    if report.note:
        doc["note"] = report.note
    return doc


def report_from_doc(doc: dict[str, Any]) -> CollectionReport:
    """Return the outcome recorded by ``report_to_doc``."""
    return CollectionReport(
        name=str(doc["name"]),
        kind=str(doc["kind"]),
        documents=int(doc["documents"]),
        nbytes=int(doc["bytes"]),
        seconds=float(doc["seconds"]),
        ranges=int(doc["ranges"]),
        resumed_ranges=int(doc["resumed_ranges"]),
        indexes=int(doc["indexes"]),
        source=_digest_from(doc.get("source")),
        destination=_digest_from(doc.get("destination")),
        verified=doc["verified"],
        differences=tuple(doc["differences"]),
        note=doc.get("note"),
    )


def intent_to_doc(position: int, intent: Intent) -> dict[str, Any]:
    """Return the state document recording one planned intent."""
    bounds = [r.lo for r in intent.ranges[1:]]
    return {
        "_id": {"intent": position},
        "name": intent.name,
        "kind": intent.kind.value,
        "count": intent.count,
        "options": _encode(dict(intent.options)),
        "indexes": _encode([dict(s) for s in intent.indexes]),
        "bounds": bounds,
    }


def intent_from_doc(doc: dict[str, Any]) -> Intent:
    """Return the intent recorded by ``intent_to_doc``."""
    ranges: tuple[IdRange, ...] = ranges_from(doc.get("bounds") or [])
    return Intent(
        name=str(doc["name"]),
        kind=Kind(doc["kind"]),
        options=_decode(doc["options"]),
        indexes=tuple(_decode(doc["indexes"])),
        count=int(doc["count"]),
        ranges=ranges,
    )


class BackupState:
    """The resume state of a backup into ``db``.

    Its writes are journaled (``j: true``) and majority-acknowledged: a journal flush makes every
    earlier write durable too, so a range recorded as finished survives a crash of the destination
    together with its documents (a server that keeps no journal gets majority-acknowledged writes).
    """

    def __init__(self, db: AsyncDatabase[Any]) -> None:
        self.db = db
        self.coll: AsyncCollection[Any] = db.get_collection(STATE_COLLECTION, write_concern=JOURNALED)
        self.run = uuid.uuid4().hex

    async def exists(self) -> bool:
        """Return whether an interrupted backup left a complete plan here."""
        return await self.coll.find_one({"_id": _HEADER}) is not None

    async def header(self) -> dict[str, Any] | None:
        """Return the header of the saved plan (source database, start time), if any."""
        doc: dict[str, Any] | None = await self.coll.find_one({"_id": _HEADER})
        return doc

    async def save_plan(self, plan: Plan, *, src_db: str, source: str) -> None:
        """Record the plan; the header goes last, so a plan without one was never complete."""
        earlier = {"_id": {"$ne": HOLDER_ID}}  # all but the run's claim on the destination (``claim``)
        try:
            await self.coll.delete_many(earlier)
        except OperationFailure as exc:
            if "journal" not in str(exc).lower():
                raise
            self.coll = self.db.get_collection(STATE_COLLECTION, write_concern=WriteConcern(w="majority"))
            await self.coll.delete_many(earlier)
        docs = [intent_to_doc(i, intent) for i, intent in enumerate(plan.intents)]
        if docs:
            await self.coll.insert_many(docs)
        await self.coll.insert_one(
            {
                "_id": _HEADER,
                "version": STATE_VERSION,
                "src_db": src_db,
                "source": source,
                "started_at": datetime.datetime.now(datetime.UTC),
                "intents": len(docs),
                "run": self.run,
            }
        )

    async def adopt(self) -> None:
        """Take over the interrupted run's records: they count for this run, later ones of that run do not."""
        header = await self.header() or {}
        previous = header.get("run")  # None (a state from before run tokens) matches records without one
        records = {"$or": [{"_id.range": {"$exists": True}}, {"_id.done": {"$exists": True}}], "run": previous}
        await self.coll.update_many(records, {"$set": {"run": self.run}})
        await self.coll.update_one({"_id": _HEADER}, {"$set": {"run": self.run}})

    async def mark_unusable(self, reason: str) -> None:
        """Record in the header that this copy must not be resumed, and why (e.g. the source changed)."""
        await self.coll.update_one({"_id": _HEADER}, {"$set": {"unusable": reason}})

    async def load_plan(self) -> Plan:
        """Return the saved plan, in the order it was made."""
        docs = [d async for d in self.coll.find({"_id.intent": {"$exists": True}})]
        docs.sort(key=lambda d: int(d["_id"]["intent"]))
        intents = [intent_from_doc(d) for d in docs]
        return Plan(
            tuple(i for i in intents if i.kind is not Kind.VIEW),
            tuple(i for i in intents if i.kind is Kind.VIEW),
        )

    async def range_done(self, name: str, index: int, digest: Digest) -> None:
        """Record that range ``index`` of ``name`` is fully written, with the digest of what was read."""
        record = {**digest.to_doc(), "run": self.run}
        await self.coll.replace_one({"_id": {"range": index, "c": name}}, record, upsert=True)

    async def done_ranges(self) -> dict[tuple[str, int], Digest]:
        """Return the digest of every finished range, by (collection, range index)."""
        out: dict[tuple[str, int], Digest] = {}
        async for doc in self.coll.find({"_id.range": {"$exists": True}, "run": self.run}):
            out[(str(doc["_id"]["c"]), int(doc["_id"]["range"]))] = Digest.from_doc(doc)
        return out

    async def collection_done(self, report: CollectionReport) -> None:
        """Record that ``report.name`` is complete (data, indexes, options, checked) with its outcome."""
        record = {"outcome": report_to_doc(report), "run": self.run}
        await self.coll.replace_one({"_id": {"done": report.name}}, record, upsert=True)

    async def done_collections(self) -> dict[str, CollectionReport]:
        """Return the recorded outcome of every completed collection or view, by name."""
        return {
            str(d["_id"]["done"]): report_from_doc(dict(d["outcome"]))
            async for d in self.coll.find({"_id.done": {"$exists": True}, "run": self.run})
        }

    async def redo(self, names: list[str]) -> None:
        """Forget what was finished of collections ``names`` (they failed verification): a resume copies them again."""
        if names:
            await self.coll.delete_many(
                {"$or": [{"_id.done": {"$in": names}}, {"_id.c": {"$in": names}, "_id.range": {"$exists": True}}]}
            )

    async def clear(self) -> None:
        """Remove the state: the copy is complete."""
        await self.coll.drop()
