"""The swap: the loaded backup takes the target's place, collection by collection, inside one database.

The plan is written into the mark (``staging.commit``) before the first change, so the swap can be
run again from the mark alone and each of its steps is idempotent: a run killed in the middle is
finished by the next one. In order:

1. the target's views are dropped (a view cannot be renamed over, and the backup's come back in 4);
2. each staged collection ``__restore.<name>`` is renamed over ``<name>`` (``dropTarget``): one
   catalog change on mongod, which keeps the collection's indexes and options; a staged copy that
   is gone was renamed already. A server that loses options on such a rename (SecantusDB, the
   test server, drops ``capped``, ``collation``, validators) gets them back: deferred ones with
   ``collMod``, creation-time ones by building the collection again under its name;
3. the target's collections the backup lacks are dropped (the migration engine's lease stays);
4. the backup's views are created, each after the view it reads.

What a reader of the target sees meanwhile: each collection switches from the old data to the
restored data at once (its rename); until the last rename some collections hold the backup and
others the old data; views are missing from step 1 to step 4; a cursor open on a replaced
collection ends with an error. On mongod the swap takes a few catalog operations per collection.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import bson
from bson import Binary
from pymongo.asynchronous.database import AsyncDatabase

from analytiq_data.backup import ddl
from analytiq_data.backup.catalog import indexes, namespaces
from analytiq_data.backup.compare import compare_indexes, compare_options
from analytiq_data.backup.copy import copy_range
from analytiq_data.backup.destination import ServerDestination
from analytiq_data.backup.endpoints import Side
from analytiq_data.backup.plan import IdRange, Intent, Kind, kind_of, order_views
from analytiq_data.progress import Progress
from analytiq_data.restore_mark import staged_name
from analytiq_data.safety.restore_guard import SwapProgress
from analytiq_data.safety.staging import KEPT, staged_now

log = logging.getLogger(__name__)

Pause = Callable[[str], Awaitable[None]]


@dataclass(frozen=True)
class Restored:
    """One collection of the backup in the target: loaded beside (``staged``) or under its name, its expected
    count (None: it has a TTL, the server may expire documents), options and indexes as loaded."""

    name: str
    staged: bool
    count: int | None
    options: Mapping[str, Any]
    indexes: tuple[Mapping[str, Any], ...]

    def intent(self, source: str) -> Intent:
        """Return the intent copying collection ``source`` of the target into this one (same options, indexes)."""
        kind = Kind.CAPPED if self.options.get("capped") else Kind.COLLECTION
        specs = tuple(ddl.buildable_indexes(self.indexes))
        return Intent(source, kind, dict(self.options), specs, target=self.name)


@dataclass(frozen=True)
class SwapPlan:
    """What the swap does: collections to put in place, the target's collections to drop, views to create."""

    collections: tuple[Restored, ...]
    drop: tuple[str, ...] = ()
    views: tuple[tuple[str, Mapping[str, Any]], ...] = ()
    version: int | None = None  # the version the restored data records (``migrations``)
    rebuilt: set[str] = field(default_factory=set, compare=False)  # written by the swap itself (options lost)

    def to_doc(self) -> dict[str, Any]:
        """Return the plan as stored in the mark (definitions as BSON bytes: they hold ``$`` keys)."""
        body = {
            "collections": [
                {
                    "name": c.name,
                    "staged": c.staged,
                    "count": c.count,
                    "options": dict(c.options),
                    "indexes": list(c.indexes),
                }
                for c in self.collections
            ],
            "drop": list(self.drop),
            "views": [{"name": n, "options": dict(o)} for n, o in self.views],
        }
        return {"version": self.version, "plan": Binary(bson.encode(body))}

    @classmethod
    def from_doc(cls, doc: Mapping[str, Any]) -> SwapPlan:
        """Return the plan stored by ``to_doc``."""
        body = bson.decode(bytes(doc["plan"]))
        collections = tuple(
            Restored(
                c["name"], bool(c["staged"]), c.get("count"), c.get("options") or {}, tuple(c.get("indexes") or ())
            )
            for c in body.get("collections") or ()
        )
        views = tuple((str(v["name"]), v.get("options") or {}) for v in body.get("views") or ())
        return cls(collections, tuple(body.get("drop") or ()), views, doc.get("version"))


async def describe_loaded(
    db: AsyncDatabase[Any], where: Mapping[str, str], counts: Mapping[str, int | None]
) -> list[Restored]:
    """Return each loaded collection (``where``: name → name loaded under) as the target's catalog lists it now."""
    infos = await namespaces(db, everything=True)
    out = []
    for name, loaded_as in sorted(where.items()):
        info = infos.get(loaded_as) or {}
        specs = tuple(dict(s) for s in await indexes(db, loaded_as))
        out.append(Restored(name, loaded_as != name, counts.get(name), dict(info.get("options") or {}), specs))
    return out


async def run_swap(
    side: Side, plan: SwapPlan, progress: Progress, track: SwapProgress, pause: Pause, *, batch_size: int
) -> None:
    """Put the loaded backup in place of the target's collections (idempotent: safe to run again)."""
    db = side.db
    track.planned = [c.name for c in plan.collections if c.staged]
    current = await namespaces(db)
    for name, info in current.items():
        if kind_of(info) is Kind.VIEW:
            await db.drop_collection(name)
    waiting = set(await staged_now(db))
    for restored in plan.collections:
        if not restored.staged:
            continue
        if restored.name in waiting:
            source = f"{db.name}.{staged_name(restored.name)}"
            await db.client.admin.command("renameCollection", source, to=f"{db.name}.{restored.name}", dropTarget=True)
            await _keep_options(side, restored, plan, batch_size)
        track.moved.append(restored.name)
        await pause(f"swap-{len(track.moved)}")
    for name in plan.drop:
        if name not in KEPT:
            await db.drop_collection(name)
    await _create_views(db, plan)
    progress.note(f"swapped {len(track.planned)} collection(s) into {db.name}")


async def _create_views(db: AsyncDatabase[Any], plan: SwapPlan) -> None:
    existing = await namespaces(db)
    views = order_views([Intent(n, Kind.VIEW, dict(o)) for n, o in plan.views])
    for view in views:
        if view.name in existing:
            if not compare_options(view.options, existing[view.name].get("options") or {}):
                continue  # created by an earlier run of this swap
            await db.drop_collection(view.name)
        await ddl.create(db, view.name, view.options)


async def _keep_options(side: Side, restored: Restored, plan: SwapPlan, batch_size: int) -> None:
    """Give ``restored`` back the options a rename lost (never on mongod: it keeps them)."""
    db = side.db
    found = await namespaces(db, keep=lambda n: n == restored.name)
    actual = dict((found.get(restored.name) or {}).get("options") or {})
    if not compare_options(restored.options, actual):
        return
    if compare_options(ddl.creation_options(restored.options), ddl.creation_options(actual)):
        log.warning("the server lost the creation options of %s on a rename: building it again", restored.name)
        await _rebuild(side, restored, batch_size)
        plan.rebuilt.add(restored.name)
        return
    await ddl.apply_deferred(db, restored.name, restored.options)


async def _rebuild(side: Side, restored: Restored, batch_size: int) -> None:
    """Build ``restored`` again under its name with its creation options, from its documents moved aside."""
    db, aside = side.db, staged_name(restored.name)
    await db.client.admin.command(
        "renameCollection", f"{db.name}.{restored.name}", to=f"{db.name}.{aside}", dropTarget=True
    )
    intent = restored.intent(aside)
    dest = ServerDestination(side)
    await dest.create_collection(intent)
    await copy_range(side, side, intent, IdRange(0), batch_size=batch_size, advance=lambda _d, _b: None)
    await dest.create_indexes(intent, intent.indexes)
    await dest.finish(intent)
    await db.drop_collection(aside)


async def check_swapped(
    db: AsyncDatabase[Any], plan: SwapPlan, *, counts: bool = True
) -> tuple[dict[str, int], list[str]]:
    """Return (count differences, other differences) between the target now and the plan.

    Options, indexes and views as listed. With ``counts``, each collection's count too (the
    server's estimate: the documents were checked when loaded, and a rename does not change them;
    only another client can), except a collection with a TTL.
    """
    infos = await namespaces(db)
    grown: dict[str, int] = {}
    lines: list[str] = []
    for restored in plan.collections:
        info = infos.get(restored.name)
        if info is None:
            lines.append(f"{restored.name}: missing after the swap")
            continue
        if counts and restored.count is not None:
            found = await db[restored.name].estimated_document_count()
            if found != restored.count:
                grown[restored.name] = found - restored.count
        diffs = compare_options(restored.options, info.get("options") or {})
        diffs += compare_indexes(restored.indexes, await indexes(db, restored.name))
        lines += [f"{restored.name}: {d}" for d in diffs]
    for name, options in plan.views:
        info = infos.get(name)
        if info is None:
            lines.append(f"{name}: view missing after the swap")
        else:
            lines += [f"{name}: {d}" for d in compare_options(options, info.get("options") or {})]
    for name in plan.drop:
        if name in infos and name not in KEPT and name not in {v for v, _ in plan.views}:
            lines.append(f"{name}: still there after the swap (the backup does not have it)")
    return grown, lines
