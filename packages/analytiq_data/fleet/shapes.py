"""Choosing the tenants whose data differ most, to rehearse a migration on a few of them.

A migration breaks on the shapes of data it was not written for: a field missing, of another
type, an array where a scalar was expected. So a database's **shape** is the set of
``(collection, field path, BSON type)`` seen in the first ``SAMPLE_DOCS`` documents of each of its
collections (array elements as ``path[]``, down to ``MAX_DEPTH`` levels; the engine's bookkeeping
and system collections left out). ``choose`` then picks greedily: first the database with the most
shapes, then each time the one adding the most shapes not seen in those already chosen (ties: more
shapes overall, then the name), so K databases cover as many different shapes as K can.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bson import Binary, Decimal128, Int64, ObjectId, Timestamp
from pymongo import AsyncMongoClient

from analytiq_data.backup.catalog import copied_namespace
from analytiq_data.safety.snapshot import is_bookkeeping

SAMPLE_DOCS = 50
MAX_DEPTH = 4
Shape = tuple[str, str, str]  # (collection, field path, BSON type)


def type_name(value: Any) -> str:
    """Return the BSON type name of ``value`` as the server calls it (``string``, ``int``, ``object``, …)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, Int64):
        return "long"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "double"
    names: tuple[tuple[type | tuple[type, ...], str], ...] = (
        (str, "string"),
        (datetime, "date"),
        (Mapping, "object"),
        (list, "array"),
        (ObjectId, "objectId"),
        ((bytes, Binary), "binData"),
        (Decimal128, "decimal"),
        (Timestamp, "timestamp"),
    )
    for kind, name in names:
        if isinstance(value, kind):
            return name
    return type(value).__name__


def shapes_of(collection: str, document: Mapping[str, Any], prefix: str = "", depth: int = 0) -> set[Shape]:
    """Return the shapes of one document: every field path (``a.b``, ``a[]``) with its BSON type."""
    found: set[Shape] = set()
    for key, value in document.items():
        path = f"{prefix}{key}"
        found |= _value_shapes(collection, path, value, depth)
    return found


def _value_shapes(collection: str, path: str, value: Any, depth: int) -> set[Shape]:
    found = {(collection, path, type_name(value))}
    if depth >= MAX_DEPTH:
        return found
    if isinstance(value, Mapping):
        found |= shapes_of(collection, value, f"{path}.", depth + 1)
    elif isinstance(value, list):
        for item in value[:SAMPLE_DOCS]:
            found |= _value_shapes(collection, f"{path}[]", item, depth + 1)
    return found


async def database_shape(client: AsyncMongoClient[Any], name: str) -> frozenset[Shape]:
    """Return the shape of database ``name``: one ``listCollections``, then one read per collection."""
    db = client[name]
    found: set[Shape] = set()
    for collection in sorted(await db.list_collection_names()):
        if not copied_namespace(collection) or is_bookkeeping(collection) or collection.startswith("system."):
            continue
        async for doc in db[collection].find({}, limit=SAMPLE_DOCS):
            found |= shapes_of(collection, doc)
    return frozenset(found)


async def shapes(client: AsyncMongoClient[Any], names: Sequence[str], jobs: int) -> dict[str, frozenset[Shape]]:
    """Return the shape of each of ``names`` (``jobs`` databases read at once)."""
    gate = asyncio.Semaphore(max(1, jobs))

    async def one(name: str) -> frozenset[Shape]:
        async with gate:
            return await database_shape(client, name)

    found = await asyncio.gather(*(one(n) for n in names))
    return dict(zip(names, found, strict=True))


@dataclass(frozen=True)
class Choice:
    """A database chosen for a rehearsal: how many shapes it has, and how many it adds to those before it."""

    database: str
    shapes: int
    new: int
    examples: tuple[Shape, ...] = ()

    def why(self) -> str:
        """Return why it was chosen, for people."""
        shown = ", ".join(f"{c}.{p}:{t}" for c, p, t in self.examples)
        more = f" (e.g. {shown})" if shown else ""
        return f"{self.new} of its {self.shapes} field shapes not seen in the databases chosen before it{more}"


def choose(found: Mapping[str, frozenset[Shape]], k: int) -> list[Choice]:
    """Return ``k`` databases covering the most shapes, greedily (see the module's docstring)."""
    seen: set[Shape] = set()
    left = dict(found)
    chosen: list[Choice] = []
    while left and len(chosen) < k:
        name = min(left, key=lambda n: (-len(left[n] - seen), -len(left[n]), n))
        new = left.pop(name) - seen
        chosen.append(Choice(name, len(found[name]), len(new), tuple(sorted(new)[:3])))
        seen |= found[name]
    return chosen
