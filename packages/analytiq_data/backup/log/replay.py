"""Replaying logged change events on a restore's load, up to a moment, with the counts they imply.

Data events become idempotent writes by ``_id`` (``consistent.events.interpret``), batched per
collection in ordered bulk writes (``consistent.apply.apply_changes``); DDL events (create, drop,
rename, createIndexes, dropIndexes, modify, dropDatabase) flush what came before them and run in
place. Alongside, the expected count of each collection is kept (base counts, plus inserts, minus
deletes, following drops and renames) so the caller can check what was loaded against it.

The load lives inside the target database (``safety.staging``): collection ``name`` of the log is
written at ``where(name)``, and a name the replay is about to create is announced first
(``on_new``), so a stopped restore can remove it. Views are not created during the load (a reader
of the target would see them): the replay keeps them in ``views`` for the swap to create.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from bson.son import SON
from bson.timestamp import Timestamp
from pymongo import errors as pm_errors
from pymongo.asynchronous.database import AsyncDatabase

from analytiq_data.backup.consistent.apply import apply_changes
from analytiq_data.backup.consistent.events import Change, Definition, interpret, renamed
from analytiq_data.backup.files.load import same_name
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


async def _nothing_new(name: str) -> None:
    return None


@dataclass
class Replay:
    """One replay on ``db`` (the target, collections at ``where(name)``): expected counts kept as events are applied.

    ``known`` are the names loaded before the replay (the base's); ``views`` the base's views (name →
    create options), changed by the log's view DDL and created by the swap, not here.
    """

    db: AsyncDatabase[Any]
    source_db: str
    selects: Callable[[str], bool]
    expected: dict[str, int] = field(default_factory=dict)
    events: int = 0
    progress: Progress = NULL_PROGRESS
    where: Callable[[str], str] = same_name
    on_new: Callable[[str], Awaitable[None]] = _nothing_new
    known: set[str] = field(default_factory=set)
    views: dict[str, dict[str, Any]] = field(default_factory=dict)

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
            if item is None or self._view(item):
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

    def _view(self, item: Item) -> bool:
        """Keep a view's DDL in ``views`` (True: nothing to run on the load)."""
        if isinstance(item, Ddl) and item.command is not None and "viewOn" in item.command:
            self.views[item.collection] = {k: v for k, v in item.command.items() if k != "create"}
            return True
        if isinstance(item, Ddl) and item.kind == "drop" and item.collection in self.views:
            del self.views[item.collection]
            return True
        if isinstance(item, Ddl) and item.kind == "dropDatabase":
            self.views.clear()
        return False

    async def _touch(self, name: str) -> str:
        """Return where collection ``name`` is loaded, announcing it first if the replay creates it."""
        if name not in self.known:
            await self.on_new(name)
            self.known.add(name)
        return self.where(name)

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
            elif item.command is not None and "create" in item.command:
                self.expected.setdefault(item.collection, 0)

    async def _flush(self, pending: dict[str, list[Change]]) -> None:
        for name, changes in pending.items():
            at = await self._touch(name)
            moved = changes if at == name else [m for c in changes if isinstance(m := renamed(c, self.where), Change)]
            # fresh: the events follow a consistent base, in order, so an inserted _id is not there yet
            await apply_changes(self.db, at, moved, fresh=True)
            self.progress.advance("replay", len(changes))
        pending.clear()

    async def _run(self, item: Definition | Ddl) -> None:
        db = self.db
        if isinstance(item, Definition):
            await self._touch(item.collection)
            moved = renamed(item, self.where)
            assert isinstance(moved, Definition)
            command, tolerated = moved.command, moved.tolerated
        elif item.kind == "drop":
            await db.drop_collection(self.where(item.collection))
            return
        elif item.kind == "dropDatabase":  # only what the load holds: never the target's own collections
            for name in sorted(self.known):
                await db.drop_collection(self.where(name))
            return
        elif item.kind == "rename":
            assert item.to is not None
            source, target = self.where(item.collection), await self._touch(item.to)
            command = SON([("renameCollection", f"{db.name}.{source}"), ("to", f"{db.name}.{target}")])
            command["dropTarget"] = True
            tolerated = frozenset({26})  # replayed twice: it is already renamed
            db = db.client.admin
        else:
            assert item.command is not None
            at = await self._touch(item.collection)
            command = SON((k, at if i == 0 else v) for i, (k, v) in enumerate(item.command.items()))
            tolerated = item.tolerated
        try:
            await db.command(command)
        except pm_errors.OperationFailure as exc:
            if exc.code not in tolerated:
                raise

    def start(self, total: int | None) -> None:
        """Start the replay's progress task (``total`` events, if known)."""
        self.progress.start("replay", total=total, unit="events", kind=TaskKind.WORK, label="replaying the log")


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
