"""What the database records about its migrations: the version document and the history.

- ``migrations`` collection, ``{_id: "schema_version", version, updated_at}``: the version, in the
  original code's shape (a database it migrated is picked up where it stands; missing = 0).
- ``migration_history`` collection: one record per step run, stamped or resolved — version,
  class name, description, direction, start/end, duration, host, pid, outcome, error with
  traceback, checksum of the code. A step declared ``idempotent = False`` that runs outside a
  transaction is recorded ``dirty`` before it starts and cleared when it is applied, so a failure
  or a kill leaves a mark that stops later runs until a person resolves it.

Writes outside a transaction use majority write concern; inside one the transaction carries it.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bson import ObjectId
from pymongo import DESCENDING, WriteConcern
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from analytiq_data.errors import MigrationError

VERSION_COLLECTION = "migrations"
VERSION_ID = "schema_version"
HISTORY_COLLECTION = "migration_history"
APPLIED_OUTCOMES = ("applied", "stamped", "resolved")
MAJORITY = WriteConcern("majority")


class VersionConflict(MigrationError):
    """The version document was not at the version this runner expected (someone else moved it)."""


@dataclass(frozen=True)
class VersionDoc:
    """The recorded version (0 when the document is missing) and when it was last written."""

    version: int
    updated_at: datetime | None


@dataclass(frozen=True)
class HistoryRecord:
    """One entry of the migration history."""

    id: Any
    version: int
    name: str
    description: str
    direction: str
    outcome: str
    started_at: datetime | None
    ended_at: datetime | None
    duration_s: float | None
    host: str | None
    pid: int | None
    checksum: str | None
    transactional: bool
    dirty: bool
    error: str | None
    traceback: str | None
    run_id: str | None
    transaction_note: str | None = None  # why the step ran outside a transaction the server offered
    failed_commands: tuple[str, ...] = ()  # server commands that failed during the failed step

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> HistoryRecord:
        """Build a record from its stored document (missing fields become None)."""
        return cls(
            id=doc.get("_id"),
            version=int(doc.get("version", 0)),
            name=str(doc.get("name", "")),
            description=str(doc.get("description", "")),
            direction=str(doc.get("direction", "")),
            outcome=str(doc.get("outcome", "")),
            started_at=doc.get("started_at"),
            ended_at=doc.get("ended_at"),
            duration_s=doc.get("duration_s"),
            host=doc.get("host"),
            pid=doc.get("pid"),
            checksum=doc.get("checksum"),
            transactional=bool(doc.get("transactional", False)),
            dirty=bool(doc.get("dirty", False)),
            error=doc.get("error"),
            traceback=doc.get("traceback"),
            run_id=doc.get("run_id"),
            transaction_note=doc.get("transaction_note"),
            failed_commands=tuple(doc.get("failed_commands") or ()),
        )

    def to_json(self) -> dict[str, Any]:
        """Return the record as plain JSON-able data."""
        data = dict(self.__dict__)
        data["id"] = str(self.id)
        return data


def utcnow() -> datetime:
    """Return the current UTC time, truncated to milliseconds as BSON stores it."""
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def parse_version(doc: Mapping[str, Any] | None) -> VersionDoc:
    """Return what a version document records (0 when there is none, or it has no ``version``).

    Raise MigrationError (naming the value and ``stamp`` as the fix) when ``version`` is not a whole
    number: a bool, a string, 1.5 (a double holding a whole number, 2.0, is read as 2).
    """
    if doc is None:
        return VersionDoc(0, None)
    value = doc.get("version", 0)
    if isinstance(value, bool) or not isinstance(value, int | float) or int(value) != value:
        raise MigrationError(
            f"the version document holds {value!r}, not a whole number",
            hint="record the true version with analytiq-db stamp N",
        )
    return VersionDoc(int(value), doc.get("updated_at"))


class StateStore:
    """Reads and writes the version document and the history of one database."""

    def __init__(self, db: AsyncDatabase[Any]) -> None:
        self.db = db
        self.versions: AsyncCollection[Any] = db.get_collection(VERSION_COLLECTION, write_concern=MAJORITY)
        self.history: AsyncCollection[Any] = db.get_collection(HISTORY_COLLECTION, write_concern=MAJORITY)
        # Inside a transaction the transaction carries the write concern; an operation may not.
        self._versions_tx: AsyncCollection[Any] = db.get_collection(VERSION_COLLECTION, write_concern=WriteConcern())
        self._history_tx: AsyncCollection[Any] = db.get_collection(HISTORY_COLLECTION, write_concern=WriteConcern())

    async def read_version(self, session: AsyncClientSession | None = None) -> VersionDoc:
        """Return the recorded version (0 if none is recorded)."""
        return parse_version(await self.versions.find_one({"_id": VERSION_ID}, session=session))

    async def write_version(self, expected: int, new: int, session: AsyncClientSession | None = None) -> None:
        """Move the recorded version from ``expected`` to ``new``; raise VersionConflict if it was
        not at ``expected`` (a missing document counts as 0)."""
        coll = self._versions_tx if session is not None and session.in_transaction else self.versions
        query: dict[str, Any] = {"_id": VERSION_ID, "version": expected}
        if expected == 0:
            query = {"_id": VERSION_ID, "$or": [{"version": 0}, {"version": {"$exists": False}}]}
        update = {"$set": {"version": new, "updated_at": utcnow()}}
        try:
            result = await coll.update_one(query, update, upsert=expected == 0, session=session)
        except Exception as exc:
            if getattr(exc, "code", None) == 11000:
                raise self._conflict(expected) from exc
            raise
        if result.matched_count == 0 and result.upserted_id is None:
            raise self._conflict(expected)

    def _conflict(self, expected: int) -> VersionConflict:
        return VersionConflict(
            f"the recorded version is no longer {expected}: another runner changed it",
            hint="run analytiq-db status to see where the database stands",
        )

    async def start_record(self, fields: dict[str, Any]) -> Any:
        """Insert a history record with outcome ``started`` and return its id."""
        doc = {
            "_id": ObjectId(),
            "outcome": "started",
            "started_at": utcnow(),
            "host": socket.gethostname(),
            "pid": os.getpid(),
            **fields,
        }
        await self.history.insert_one(doc)
        return doc["_id"]

    async def finish_record(
        self,
        record_id: Any,
        outcome: str,
        started_at: datetime,
        session: AsyncClientSession | None = None,
        **fields: Any,
    ) -> None:
        """Set the record's outcome, end time and duration (plus ``fields``)."""
        coll = self._history_tx if session is not None and session.in_transaction else self.history
        ended = utcnow()
        values = {"outcome": outcome, "ended_at": ended, "duration_s": (ended - started_at).total_seconds(), **fields}
        await coll.update_one({"_id": record_id}, {"$set": values}, session=session)

    async def update_record(self, record_id: Any, **fields: Any) -> None:
        """Set ``fields`` on a history record (e.g. a step leaving its transaction)."""
        await self.history.update_one({"_id": record_id}, {"$set": fields})

    async def add_records(self, docs: list[dict[str, Any]]) -> None:
        """Insert finished records (stamp, resolve) in one write."""
        now = utcnow()
        base = {"started_at": now, "ended_at": now, "duration_s": 0.0, "host": socket.gethostname(), "pid": os.getpid()}
        if docs:
            await self.history.insert_many([{"_id": ObjectId(), **base, **doc} for doc in docs])

    async def records(self, limit: int = 0, version: int | None = None) -> list[HistoryRecord]:
        """Return history records, newest first (``limit`` 0 = all)."""
        query: dict[str, Any] = {} if version is None else {"version": version}
        cursor = self.history.find(query).sort([("started_at", DESCENDING), ("_id", DESCENDING)]).limit(limit)
        return [HistoryRecord.from_doc(doc) async for doc in cursor]

    async def in_effect(self, current: int) -> dict[int, HistoryRecord]:
        """Return, for each version up to ``current``, the newest record that applied it (if any)."""
        query = {"direction": "up", "outcome": {"$in": list(APPLIED_OUTCOMES)}, "version": {"$lte": current}}
        found: dict[int, HistoryRecord] = {}
        async for doc in self.history.find(query).sort([("ended_at", DESCENDING), ("_id", DESCENDING)]):
            record = HistoryRecord.from_doc(doc)
            found.setdefault(record.version, record)
        return found

    async def dirty_record(self) -> HistoryRecord | None:
        """Return the newest record still marked dirty, if any."""
        doc = await self.history.find_one({"dirty": True}, sort=[("_id", DESCENDING)])
        return None if doc is None else HistoryRecord.from_doc(doc)

    async def clear_dirty(self, record_id: Any, outcome: str, **fields: Any) -> None:
        """Clear the dirty mark of a record, setting its outcome (and ``fields``)."""
        await self.history.update_one({"_id": record_id}, {"$set": {"dirty": False, "outcome": outcome, **fields}})

    async def mark_abandoned(self, run_id: str) -> int:
        """Mark records left ``started`` by other runs (killed runners) as ``interrupted``; return how many."""
        result = await self.history.update_many(
            {"outcome": "started", "run_id": {"$ne": run_id}},
            {"$set": {"outcome": "interrupted", "error": "the runner stopped before finishing this step"}},
        )
        return int(result.modified_count)
