"""Replaying logged change events on a staging database, up to a moment, with the counts they imply.

Data events become idempotent writes by ``_id`` (``consistent.events.interpret``), batched per
collection in ordered bulk writes (``consistent.apply.apply_changes``); DDL events (create, drop,
rename, createIndexes, dropIndexes, modify, dropDatabase) flush what came before them and run in
place. Alongside, the expected count of each collection is kept (base counts, plus inserts, minus
deletes, following drops and renames) so the caller can check the staged database against it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from bson.son import SON
from bson.timestamp import Timestamp
from pymongo import errors as pm_errors
from pymongo.asynchronous.database import AsyncDatabase

from analytiq_data.backup.consistent.apply import apply_changes
from analytiq_data.backup.consistent.events import Change, Definition, interpret
from analytiq_data.progress import NULL_PROGRESS, Progress, TaskKind

#: Events applied at once (one ordered bulk write per collection per chunk).
CHUNK = 5000
#: ``modify`` (collMod) fields replayed; the rest of its description is the server's bookkeeping.
_COLLMOD_FIELDS = ("validator", "validationLevel", "validationAction", "index", "expireAfterSeconds")
#: ``create`` fields that are not options of the create command.
_NOT_CREATE_OPTIONS = frozenset({"idIndex", "uuid"})
#: ``create`` fields named otherwise in the event than in the command: a view's pipeline is
#: ``pipeline`` in mongod's event (the oplog entry's own field) but ``viewPipeline`` in SecantusDB's.
_CREATE_RENAMED = {"viewPipeline": "pipeline"}


@dataclass(frozen=True)
class Ddl:
    """A DDL event to run in place: ``drop``, ``rename`` (to ``to``), ``dropDatabase`` or a ``command``."""

    kind: str
    collection: str
    to: str | None = None
    command: SON[str, Any] | None = None
    tolerated: frozenset[int] = frozenset()


Item = Change | Definition | Ddl


def _ddl(event: Mapping[str, Any], db_name: str, selects: Callable[[str], bool]) -> Ddl | None:
    op = str(event.get("operationType"))
    name = str((event.get("ns") or {}).get("coll") or "")
    desc = event.get("operationDescription") or {}
    if op == "dropDatabase":
        return Ddl("dropDatabase", "")
    if op == "drop":
        return Ddl("drop", name) if selects(name) else None
    if op == "rename":
        to = event.get("to") or desc.get("to") or {}
        target = str(to.get("coll") or "")
        if to.get("db") not in (None, db_name) or not selects(target):
            return Ddl("drop", name) if selects(name) else None
        return Ddl("rename", name, to=target) if selects(name) else None
    if not selects(name):
        return None
    if op == "modify":
        fields = [(k, desc[k]) for k in _COLLMOD_FIELDS if k in desc]
        return Ddl("command", name, command=SON([("collMod", name), *fields])) if fields else None
    if op == "create":
        options = [(_CREATE_RENAMED.get(k, k), v) for k, v in desc.items() if k not in _NOT_CREATE_OPTIONS]
        return Ddl("command", name, command=SON([("create", name), *options]), tolerated=frozenset({48}))
    return None


def plan(event: Mapping[str, Any], db_name: str, selects: Callable[[str], bool]) -> Item | None:
    """Return what replaying ``event`` asks of the staging database (None: nothing, or not ours)."""
    op = str(event.get("operationType"))
    if op in ("drop", "rename", "dropDatabase", "modify", "create"):
        return _ddl(event, db_name, selects)
    if op == "invalidate":
        return None
    return interpret(event, db_name, selects)


@dataclass
class Replay:
    """One replay on ``db`` (the staging database): expected counts kept as events are applied."""

    db: AsyncDatabase[Any]
    source_db: str
    selects: Callable[[str], bool]
    expected: dict[str, int] = field(default_factory=dict)
    events: int = 0
    progress: Progress = NULL_PROGRESS

    async def apply(self, events: Iterable[Mapping[str, Any]], upto: Timestamp, after: Timestamp) -> bool:
        """Apply the events with ``after < clusterTime <= upto`` in order; return False once one is past ``upto``."""
        pending: dict[str, list[Change]] = {}
        size = 0
        for event in events:
            at = event["clusterTime"]
            if at <= after:
                continue
            if at > upto:
                await self._flush(pending)
                return False
            item = plan(event, self.source_db, self.selects)
            self.events += 1
            if item is None:
                continue
            self._count(event, item)
            if isinstance(item, Change):
                pending.setdefault(item.collection, []).append(item)
                size += 1
                if size >= CHUNK:
                    await self._flush(pending)
                    size = 0
                continue
            await self._flush(pending)
            size = 0
            await self._run(item)
        await self._flush(pending)
        return True

    def _count(self, event: Mapping[str, Any], item: Item) -> None:
        op = str(event.get("operationType"))
        if isinstance(item, Change):
            if op == "insert":
                self.expected[item.collection] = self.expected.get(item.collection, 0) + 1
            elif op == "delete":
                self.expected[item.collection] = self.expected.get(item.collection, 0) - 1
        elif isinstance(item, Ddl):
            if item.kind == "dropDatabase":
                self.expected.clear()
            elif item.kind == "drop":
                self.expected.pop(item.collection, None)
            elif item.kind == "rename" and item.to is not None:
                self.expected[item.to] = self.expected.pop(item.collection, 0)
            elif item.command is not None and "create" in item.command and "viewOn" not in item.command:
                self.expected.setdefault(item.collection, 0)

    async def _flush(self, pending: dict[str, list[Change]]) -> None:
        for name, changes in pending.items():
            await apply_changes(self.db, name, changes)
            self.progress.advance("replay", len(changes))
        pending.clear()

    async def _run(self, item: Definition | Ddl) -> None:
        db = self.db
        if isinstance(item, Definition):
            command, tolerated = item.command, item.tolerated
        elif item.kind == "drop":
            await db.drop_collection(item.collection)
            return
        elif item.kind == "dropDatabase":
            for name in await db.list_collection_names():
                await db.drop_collection(name)
            return
        elif item.kind == "rename":
            command = SON([("renameCollection", f"{db.name}.{item.collection}"), ("to", f"{db.name}.{item.to}")])
            command["dropTarget"] = True
            tolerated = frozenset({26})  # replayed twice: it is already renamed
            db = db.client.admin
        else:
            assert item.command is not None
            command, tolerated = item.command, item.tolerated
        try:
            await db.command(command)
        except pm_errors.OperationFailure as exc:
            if exc.code not in tolerated:
                raise

    def start(self, total: int | None) -> None:
        """Start the replay's progress task (``total`` events, if known)."""
        self.progress.start("replay", total=total, unit="events", kind=TaskKind.WORK, label="replaying the log")


async def staged_counts(db: AsyncDatabase[Any], names: Iterable[str]) -> dict[str, int]:
    """Return the count of each collection ``names`` in ``db`` (0 for one that does not exist)."""
    return {name: await db[name].count_documents({}) for name in names}


def count_differences(expected: Mapping[str, int], found: Mapping[str, int], skip: frozenset[str]) -> list[str]:
    """Return one phrase per collection whose count differs from what the base and the log imply."""
    out = []
    for name in sorted(set(expected) | set(found)):
        if name in skip:
            continue
        want, have = expected.get(name, 0), found.get(name, 0)
        if want != have:
            out.append(f"{name}: {have:,} documents, the base and the log imply {want:,}")
    return out
