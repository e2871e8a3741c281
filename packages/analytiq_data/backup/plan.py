"""What to copy: one intent per collection or view, with everything needed to recreate it.

An intent carries the collection's kind and options (``listCollections``), its indexes
(``listIndexes``), its estimated size, and the ``_id`` ranges it is copied in. Collections are
ordered largest first (they bound the run time); views come after, each after the view it reads.
Everything here only reads the source; the pure helpers (ordering, splitting, option handling) are
tested without a server.
"""

from __future__ import annotations

import datetime
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import Any

from bson import Binary, Decimal128, Int64, ObjectId
from pymongo.asynchronous.database import AsyncDatabase

from analytiq_data.backup.catalog import MANIFEST_COLLECTION as MANIFEST_COLLECTION
from analytiq_data.backup.catalog import STATE_COLLECTION as STATE_COLLECTION
from analytiq_data.backup.catalog import copied_namespace as copied_namespace
from analytiq_data.backup.catalog import indexes, is_view, namespaces
from analytiq_data.backup.ddl import DEFERRED_OPTIONS as DEFERRED_OPTIONS
from analytiq_data.backup.ddl import buildable_indexes
from analytiq_data.backup.ddl import creation_options as creation_options
from analytiq_data.backup.ddl import deferred_options as deferred_options
from analytiq_data.backup.ddl import index_spec as index_spec
from analytiq_data.backup.ddl import is_id_index as is_id_index
from analytiq_data.backup.ddl import is_ttl as is_ttl
from analytiq_data.backup.options import BackupOptions
from analytiq_data.progress import NULL_PROGRESS, Progress, TaskKind

#: Samples taken per range boundary when splitting a collection by ``_id``.
SAMPLES_PER_RANGE = 32


class Kind(StrEnum):
    """How a namespace is copied."""

    COLLECTION = "collection"
    CAPPED = "capped"  # one ordered reader in $natural order, one ordered writer
    TIMESERIES = "timeseries"  # read and written through the time-series namespace
    VIEW = "view"  # recreated from its definition, after its source


@dataclass(frozen=True)
class IdRange:
    """Documents with ``lo <= _id < hi``; ``None`` bounds are open. ``index`` orders them."""

    index: int
    lo: Any = None
    hi: Any = None

    @property
    def bounded(self) -> bool:
        """Return whether this range is a part of its collection rather than all of it."""
        return self.lo is not None or self.hi is not None

    def filter(self) -> dict[str, Any]:
        """Return the query selecting this range (``{}`` for a whole collection)."""
        cond: dict[str, Any] = {}
        if self.lo is not None:
            cond["$gte"] = self.lo
        if self.hi is not None:
            cond["$lt"] = self.hi
        return {"_id": cond} if cond else {}


@dataclass(frozen=True)
class Intent:
    """One namespace to copy: its kind, options, indexes, estimated count and ``_id`` ranges.

    ``target`` is the name it is written under on the destination when that differs (a restore
    loads beside the collection it replaces); ``dest`` says which name that is.
    """

    name: str
    kind: Kind
    options: Mapping[str, Any] = field(default_factory=dict)
    indexes: tuple[Mapping[str, Any], ...] = ()
    count: int = 0
    ranges: tuple[IdRange, ...] = (IdRange(0),)
    size_bytes: int | None = None
    target: str | None = None

    @property
    def dest(self) -> str:
        """Return the name of this namespace on the destination."""
        return self.target or self.name

    @property
    def view_on(self) -> str | None:
        """Return the namespace a view reads from (None for collections)."""
        source = self.options.get("viewOn")
        return str(source) if source is not None else None


@dataclass(frozen=True)
class Plan:
    """Collections (largest first) then views (each after its source)."""

    collections: tuple[Intent, ...]
    views: tuple[Intent, ...]

    @property
    def intents(self) -> tuple[Intent, ...]:
        """Return every intent, collections then views."""
        return self.collections + self.views

    def find(self, name: str) -> Intent | None:
        """Return the intent for ``name``, if planned."""
        return next((i for i in self.intents if i.name == name), None)


def kind_of(info: Mapping[str, Any]) -> Kind:
    """Return the kind of a ``listCollections`` entry."""
    options = info.get("options") or {}
    if is_view(info):
        return Kind.VIEW
    if info.get("type") == "timeseries" or "timeseries" in options:
        return Kind.TIMESERIES
    if options.get("capped"):
        return Kind.CAPPED
    return Kind.COLLECTION


def order_views(views: Sequence[Intent]) -> list[Intent]:
    """Return views so that each comes after any view it reads from (stable otherwise)."""
    by_name = {v.name: v for v in views}
    done: list[Intent] = []
    placed: set[str] = set()

    def place(view: Intent, trail: tuple[str, ...]) -> None:
        if view.name in placed:
            return
        source = view.view_on
        if source in by_name and source not in trail:
            place(by_name[source], (*trail, view.name))
        placed.add(view.name)
        done.append(view)

    for view in views:
        place(view, ())
    return done


def range_count(count: int, range_docs: int) -> int:
    """Return how many ``_id`` ranges a collection of ``count`` documents is copied in."""
    return max(1, math.ceil(count / range_docs)) if count > range_docs else 1


def sort_class(value: Any) -> str | None:
    """Return the BSON comparison class of an ``_id`` if ranges over it are safe, else None.

    Range queries compare only within a class (numbers with numbers, strings with strings), so a
    collection is split only when its smallest and largest ``_id`` share one of these classes.
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float | Int64 | Decimal128 | Decimal):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, ObjectId):
        return "objectId"
    if isinstance(value, datetime.datetime):
        return "date"
    if isinstance(value, Binary | bytes):
        return "binary"
    return None


def boundaries(sorted_ids: Sequence[Any], ranges: int) -> list[Any]:
    """Return up to ``ranges - 1`` increasing split points taken evenly from sorted sample ``_id`` values."""
    if ranges < 2 or not sorted_ids:
        return []
    points: list[Any] = []
    for k in range(1, ranges):
        candidate = sorted_ids[min(len(sorted_ids) - 1, (k * len(sorted_ids)) // ranges)]
        if not points or candidate != points[-1]:
            points.append(candidate)
    return points


def ranges_from(points: Iterable[Any]) -> tuple[IdRange, ...]:
    """Return the ranges cut at ``points``: ``(-inf, p1), [p1, p2), ..., [pk, +inf)``."""
    cuts = list(points)
    if not cuts:
        return (IdRange(0),)
    edges: list[Any] = [None, *cuts, None]
    return tuple(IdRange(i, edges[i], edges[i + 1]) for i in range(len(edges) - 1))


async def split_ranges(db: AsyncDatabase[Any], name: str, count: int, range_docs: int) -> tuple[IdRange, ...]:
    """Return the ``_id`` ranges to copy ``name`` in: one unless it is large and its ``_id``s are of one class."""
    wanted = range_count(count, range_docs)
    if wanted < 2:
        return (IdRange(0),)
    coll = db[name]
    first = await coll.find_one({}, {"_id": 1}, sort=[("_id", 1)])
    last = await coll.find_one({}, {"_id": 1}, sort=[("_id", -1)])
    if first is None or last is None or sort_class(first["_id"]) is None:
        return (IdRange(0),)
    if sort_class(first["_id"]) != sort_class(last["_id"]):
        return (IdRange(0),)
    size = min(count, wanted * SAMPLES_PER_RANGE)
    pipeline = [{"$sample": {"size": size}}, {"$project": {"_id": 1}}, {"$sort": {"_id": 1}}]
    sample = [doc["_id"] async for doc in await coll.aggregate(pipeline, allowDiskUse=True)]
    return ranges_from(boundaries(sample, wanted))


async def describe(db: AsyncDatabase[Any], info: Mapping[str, Any], options: BackupOptions, *, sizes: bool) -> Intent:
    """Return the intent for one ``listCollections`` entry (estimated count; byte size only if ``sizes``)."""
    name = str(info["name"])
    kind = kind_of(info)
    opts = dict(info.get("options") or {})
    if kind is Kind.VIEW:
        return Intent(name, kind, opts)
    coll = db[name]
    specs: tuple[dict[str, Any], ...] = tuple(buildable_indexes(await indexes(db, name)))
    count = await coll.estimated_document_count()
    size = None
    if sizes:
        stats = await db.command("collStats", name)
        size = int(stats.get("size") or 0)
    ranges: tuple[IdRange, ...] = (IdRange(0),)
    if kind is Kind.COLLECTION:
        ranges = await split_ranges(db, name, count, options.range_docs)
    return Intent(name, kind, opts, specs, count, ranges, size)


async def build_plan(
    db: AsyncDatabase[Any], options: BackupOptions, *, sizes: bool = False, progress: Progress = NULL_PROGRESS
) -> Plan:
    """Return the plan for copying the selected namespaces of ``db`` (reads only).

    Sizing and splitting large collections can take a while: it reports as a PHASE task counting
    collections.
    """
    chosen = list((await namespaces(db, keep=options.selects)).values())
    task = f"planning {db.name}"
    progress.start(task, len(chosen), "collections", kind=TaskKind.PHASE, label=f"sizing the collections of {db.name}")
    intents: list[Intent] = []
    for info in chosen:
        intents.append(await describe(db, info, options, sizes=sizes))
        progress.advance(task)
    progress.finish(task, f"{len(chosen)} {'collection' if len(chosen) == 1 else 'collections'} planned")
    collections = sorted((i for i in intents if i.kind is not Kind.VIEW), key=lambda i: (-i.count, i.name))
    views = order_views(sorted((i for i in intents if i.kind is Kind.VIEW), key=lambda i: i.name))
    return Plan(tuple(collections), tuple(views))
