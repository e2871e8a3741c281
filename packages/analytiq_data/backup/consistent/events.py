"""Change events read as writes to replay: pure code, no I/O (tested without a server).

Each data event becomes a ``Change`` applied by ``_id``, idempotently, so replaying an event the
copy had already seen (it read the document after the event) or one applied before a kill is
harmless:

- ``insert`` and ``replace``: upsert of the event's ``fullDocument`` (the document as that write
  left it, not as it is now);
- ``delete``: delete by ``_id``;
- ``update``: the event's ``updateDescription`` replayed (``$set`` of the updated fields, ``$unset``
  of the removed ones, arrays truncated with ``$push $slice``); paths those cannot address (field
  names holding dots, as ``disambiguatedPaths`` tells, or starting with ``$``) and values holding
  such names go through pipeline updates (``paths``), as do inserted or replacing documents with a
  top-level ``$``-prefixed name (a replacement cannot hold one). ``fullDocument: "updateLookup"`` is
  deliberately not used: a lookup returns the document as it is when the event is read, which may
  hold writes made after T, so the copy would no longer be the source at one point in time.

Replayed in order from the start time, each path ends with the value of its last write up to T,
whatever the copy read. An update replayed on a document the copy read later than that update can
be refused by the server (its ``$set`` of ``a.b`` meets the ``a: 5`` a later write left): then each
path is applied on its own and the refused ones skipped, as a later event rewrites their parent.

DDL events on a copied collection: ``createIndexes``/``dropIndexes`` (visible with
``showExpandedEvents``, servers 6.0+) are replayed; ``create`` creates the collection; ``drop``,
``rename``, ``dropDatabase`` and ``invalidate`` stop the copy (``SourceChanged``): one point in
time cannot be reached by following them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from bson.son import SON
from bson.timestamp import Timestamp
from pymongo import DeleteOne, InsertOne, ReplaceOne, UpdateOne

from analytiq_data.backup.consistent.paths import (
    Path,
    plain,
    replace_stage,
    set_stage,
    special_keys,
    split_path,
    truncate_stage,
    unset_stage,
)
from analytiq_data.backup.consistent.point import ts_text
from analytiq_data.errors import AnalytiqError, ExitCode

WriteOp = InsertOne[Any] | ReplaceOne[Any] | UpdateOne | DeleteOne

#: Events that stop a consistent copy: the namespaces it copies changed under it.
STOPPING = frozenset({"drop", "rename", "dropDatabase", "invalidate"})
#: Events that change data, replayed by ``_id``.
DATA = frozenset({"insert", "replace", "update", "delete"})


class SourceChanged(AnalytiqError):
    """A collection being copied was dropped or renamed on the source (or the database dropped) during the copy."""

    exit_code = ExitCode.FAILURE


@dataclass(frozen=True)
class Change:
    """One document write to replay: ``upsert`` a full document, ``update`` by description, or ``delete``.

    ``sets``, ``unsets`` and ``truncated`` name fields by dotted path, as the event does; ``parts``
    holds the components of paths the event disambiguated (``disambiguatedPaths``). Paths that
    ``$set``/``$unset`` address exactly are replayed with them; the others (field names with dots
    or starting with ``$``) and values holding such names, with pipeline updates (``paths``).
    """

    collection: str
    op: str
    key: Any
    document: Mapping[str, Any] | None = None
    sets: Mapping[str, Any] = field(default_factory=dict)
    unsets: tuple[str, ...] = ()
    truncated: tuple[tuple[str, int], ...] = ()
    parts: Mapping[str, Path] = field(default_factory=dict)
    inserted: bool = False  # an ``insert`` event (``upsert`` either way)

    def path(self, dotted_path: str) -> Path:
        """Return the components of one of this change's paths."""
        return split_path(dotted_path, self.parts)

    def requests(self, *, fresh: bool = False) -> list[WriteOp]:
        """Return the bulk-write requests that replay this change (idempotent by ``_id``).

        ``fresh``: the caller knows an inserted document is not there yet (events after a consistent
        base, in order): an insert is sent as a plain insert, cheaper than a replacement by ``_id``; a
        duplicate key on it is the caller's to replay idempotently (``requests()``).
        """
        query = {"_id": self.key}
        if self.op == "upsert":
            assert self.document is not None
            if special_keys(self.document):  # a replacement cannot hold top-level $-prefixed names
                return [UpdateOne(query, [replace_stage(self.document)], upsert=True)]
            if fresh and self.inserted:
                return [InsertOne(self.document)]
            return [ReplaceOne(query, self.document, upsert=True)]
        if self.op == "delete":
            return [DeleteOne(query)]
        out: list[WriteOp] = []
        plain_cut = [(f, n) for f, n in self.truncated if plain(self.path(f))]
        if plain_cut:  # its own request: $push on "arr" conflicts with $set on "arr.2"
            out.append(UpdateOne(query, {"$push": {f: {"$each": [], "$slice": n} for f, n in plain_cut}}))
        sets = {f: v for f, v in self.sets.items() if plain(self.path(f)) and not special_keys(v)}
        unsets = [f for f in self.unsets if plain(self.path(f))]
        update: dict[str, Any] = {}
        if sets:
            update["$set"] = sets
        if unsets:
            update["$unset"] = dict.fromkeys(unsets, "")
        if update:
            out.append(UpdateOne(query, update))
        stages = self._stages(skip=(sets, unsets, plain_cut))
        if stages:
            out.append(UpdateOne(query, stages))
        return out

    def _stages(self, skip: tuple[Mapping[str, Any], list[str], list[tuple[str, int]]]) -> list[dict[str, Any]]:
        """Return the pipeline stages replaying the paths and values ``$set``/``$unset`` cannot."""
        sets, unsets, cut = skip
        stages = [truncate_stage(self.path(f), n) for f, n in self.truncated if (f, n) not in cut]
        stages += [set_stage(self.path(f), v) for f, v in self.sets.items() if f not in sets]
        stages += [unset_stage(self.path(f)) for f in self.unsets if f not in unsets]
        return stages

    def piecewise(self) -> list[UpdateOne]:
        """Return an update's paths as separate requests (for a server that refuses them together)."""
        query = {"_id": self.key}
        out: list[UpdateOne] = []
        for f, n in self.truncated:
            parts = self.path(f)
            cut = {"$push": {f: {"$each": [], "$slice": n}}} if plain(parts) else [truncate_stage(parts, n)]
            out.append(UpdateOne(query, cut))
        for f, value in self.sets.items():
            parts = self.path(f)
            classic = plain(parts) and not special_keys(value)
            out.append(UpdateOne(query, {"$set": {f: value}} if classic else [set_stage(parts, value)]))
        for f in self.unsets:
            parts = self.path(f)
            out.append(UpdateOne(query, {"$unset": {f: ""}} if plain(parts) else [unset_stage(parts)]))
        return out


@dataclass(frozen=True)
class Definition:
    """A DDL event replayed on the destination: ``command`` run in its database (``ok`` codes tolerated)."""

    collection: str
    command: SON[str, Any]
    tolerated: frozenset[int] = frozenset()


def renamed(item: Change | Definition, where: Callable[[str], str]) -> Change | Definition:
    """Return ``item`` applied to collection ``where(item.collection)`` instead (a DDL command's target too)."""
    name = where(item.collection)
    if isinstance(item, Change):
        return replace(item, collection=name)
    command = SON((k, name if i == 0 else v) for i, (k, v) in enumerate(item.command.items()))
    return replace(item, collection=name, command=command)


def _key(event: Mapping[str, Any]) -> Any:
    return (event.get("documentKey") or {}).get("_id")


def interpret(
    event: Mapping[str, Any], db_name: str, selects: Callable[[str], bool]
) -> Change | Definition | None:
    """Return what ``event`` asks of the copy (a change, a DDL to replay, or None: not ours).

    Raise ``SourceChanged`` for a drop, rename, dropped database or invalidated stream touching a
    copied collection.
    """
    op = str(event.get("operationType"))
    ns = event.get("ns") or {}
    name = str(ns.get("coll") or "")
    if ns.get("db") not in (None, db_name):
        return None
    if op in STOPPING:
        _stop_unless_ignored(event, op, name, db_name, selects)
        return None
    if not name or not selects(name):
        return None
    if op in ("insert", "replace"):
        return Change(name, "upsert", _key(event), document=event.get("fullDocument"), inserted=op == "insert")
    if op == "delete":
        return Change(name, "delete", _key(event))
    if op == "update":
        desc = event.get("updateDescription") or {}
        truncated = tuple((str(t["field"]), int(t["newSize"])) for t in desc.get("truncatedArrays") or ())
        known = desc.get("disambiguatedPaths") or {}
        return Change(
            name,
            "update",
            _key(event),
            sets=desc.get("updatedFields") or {},
            unsets=tuple(str(f) for f in desc.get("removedFields") or ()),
            truncated=truncated,
            parts={str(p): split_path(str(p), known) for p in known},
        )
    return _definition(op, name, event.get("operationDescription") or {})


def _definition(op: str, name: str, desc: Mapping[str, Any]) -> Definition | None:
    if op == "createIndexes":
        specs = [dict(s) for s in desc.get("indexes") or ()]
        for spec in specs:
            spec.pop("v", None)
        return Definition(name, SON([("createIndexes", name), ("indexes", specs)])) if specs else None
    if op == "dropIndexes":
        names = [str(s.get("name")) for s in desc.get("indexes") or () if s.get("name")]
        if not names:
            return None
        # mongod logs one index per event; one name goes as a string, which every server takes
        # (a list of names needs mongod 4.2+, and SecantusDB refuses it)
        index: str | list[str] = names[0] if len(names) == 1 else names
        return Definition(name, SON([("dropIndexes", name), ("index", index)]), frozenset({27}))
    if op == "create":
        return Definition(name, SON([("create", name)]), frozenset({48}))  # 48: it exists already
    return None  # modify, shardCollection, ...: not replayed (docs/explanation/consistent-copy.md: not covered)


def _stop_unless_ignored(
    event: Mapping[str, Any], op: str, name: str, db_name: str, selects: Callable[[str], bool]
) -> None:
    to = str((event.get("to") or {}).get("coll") or "")
    if op == "drop" and not selects(name):
        return
    if op == "rename" and not selects(name) and not selects(to):
        return
    what = {
        "drop": f"collection {name!r} was dropped",
        "rename": f"collection {name!r} was renamed to {to!r}",
        "dropDatabase": f"database {db_name!r} was dropped",
        "invalidate": "the change stream was invalidated",
    }[op]
    at = event.get("clusterTime")
    when = f" at {ts_text(at)}" if isinstance(at, Timestamp) else ""
    raise SourceChanged(
        f"{what} on the source during the consistent copy{when}: a point-in-time copy does not follow drops or renames",
        hint="run the backup again (with --drop) when the source's collections are not being dropped or renamed",
    )
